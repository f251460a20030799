//! Errors located in a file: the path, the byte span, and the line and column
//! a person reads, rendered with the offending source line underlined.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};

/// An error at a place in a text file.
///
/// It keeps the whole source so it can render the offending line; line and
/// column are 1-based and count characters, as editors do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    path: PathBuf,
    source: String,
    span: Range<usize>,
    message: String,
    help: Option<String>,
}

impl Diagnostic {
    /// An error in `source` (the content of `path`) at byte range `span`.
    ///
    /// The span is clamped to the source, so a span at end of file still renders.
    pub fn new(
        path: impl Into<PathBuf>,
        source: impl Into<String>,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Diagnostic {
        let source = source.into();
        let start = floor_char_boundary(&source, span.start.min(source.len()));
        let end = floor_char_boundary(&source, span.end.clamp(start, source.len()));
        Diagnostic {
            path: path.into(),
            source,
            span: start..end,
            message: message.into(),
            help: None,
        }
    }

    /// Adds a hint saying what to do about it.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// The file the error is in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The byte range of the offending text.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// What is wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The hint, if any.
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }

    /// 1-based line and column (in characters) of the start of the span.
    pub fn line_column(&self) -> (usize, usize) {
        let before = &self.source[..self.span.start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// Renders the error with the source line, optionally with ANSI colours.
    pub fn render(&self, styled: bool) -> String {
        let origin = self.path.display().to_string();
        let mut span = self.span.clone();
        if span.is_empty() {
            // Point at one character (or the end of the file) rather than nothing.
            span.end = self.source[span.start..]
                .chars()
                .next()
                .map_or(span.start, |c| span.start + c.len_utf8());
        }
        let snippet = Snippet::source(self.source.as_str())
            .path(origin)
            .fold(true)
            .annotation(AnnotationKind::Primary.span(span));
        let mut group = Level::ERROR
            .primary_title(self.message.as_str())
            .element(snippet);
        if let Some(help) = &self.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        let renderer = if styled {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        renderer.render(&[group])
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, column) = self.line_column();
        write!(
            f,
            "{}:{line}:{column}: {}",
            self.path.display(),
            self.message
        )
    }
}

impl std::error::Error for Diagnostic {}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let d = Diagnostic::new("a.toml", "x = 1\nnäme = \"bad\"\n", 15..20, "nope");
        assert_eq!(d.line_column(), (2, 9));
        assert_eq!(d.to_string(), "a.toml:2:9: nope");
        let rendered = d.render(false);
        assert!(rendered.contains("a.toml:2:9"), "{rendered}");
        assert!(rendered.contains("näme = \"bad\""), "{rendered}");
        assert!(rendered.contains("^^^^"), "{rendered}");
    }

    #[test]
    fn span_at_end_of_file_renders() {
        let d = Diagnostic::new("a.toml", "x = [", 99..120, "unterminated").with_help("close it");
        assert_eq!(d.line_column(), (1, 6));
        let rendered = d.render(false);
        assert!(rendered.contains("help: close it"), "{rendered}");
    }
}
