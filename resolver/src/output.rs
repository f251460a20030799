//! What the user sees: human status lines on stderr, or one JSON object per
//! line on stdout (`--message-format json`).
//!
//! Every command reports through a [`Printer`], so `-q`, colours and the JSON
//! format behave the same everywhere.
#![allow(
    clippy::print_stderr,
    clippy::print_stdout,
    reason = "this module is the output"
)]

use std::fmt::Display;
use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use anstyle::{AnsiColor, Style};
use serde_json::{Value, json};

use crate::cli::MessageFormat;
use crate::error::CliError;
use crate::settings::Settings;

/// Prints status, results and errors in the chosen format.
#[derive(Debug, Clone)]
pub struct Printer {
    format: MessageFormat,
    quiet: bool,
    color: bool,
    terminal: bool,
}

const GREEN: Style = AnsiColor::Green.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const RED: Style = AnsiColor::Red.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default().bold();

impl Printer {
    /// A printer for these settings.
    pub fn new(settings: &Settings) -> Printer {
        Printer {
            format: settings.message_format,
            quiet: settings.quiet,
            color: settings.color,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// A human printer without colour, for errors found before settings exist.
    pub fn fallback() -> Printer {
        Printer {
            format: MessageFormat::Human,
            quiet: false,
            color: false,
            terminal: false,
        }
    }

    /// Like [`Printer::fallback`], in the format the command line asked for.
    pub fn fallback_for(format: MessageFormat) -> Printer {
        Printer {
            format,
            ..Printer::fallback()
        }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }

    /// A cargo-style status line (`     Added drive_files …`) in human mode,
    /// and `event` in JSON mode. Nothing with `-q`.
    pub fn status(&self, verb: &str, message: impl Display, event: &Value) {
        if self.quiet {
            return;
        }
        match self.format {
            MessageFormat::Human => {
                eprintln!("{} {message}", self.paint(GREEN, &format!("{verb:>12}")));
            }
            MessageFormat::Json => println!("{event}"),
        }
    }

    /// Progress bars for `jobs` connectors: drawn only for people (human
    /// format, a terminal on stderr, no `-q`); otherwise every call is a no-op.
    pub fn progress(&self, jobs: usize) -> Progress {
        let draw = self.format == MessageFormat::Human && !self.quiet && self.terminal && jobs > 0;
        Progress {
            multi: draw.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// Whether output is JSON.
    pub fn is_json(&self) -> bool {
        self.format == MessageFormat::Json
    }

    /// A warning. Nothing with `-q`.
    pub fn warning(&self, message: impl Display) {
        if self.quiet {
            return;
        }
        match self.format {
            MessageFormat::Human => eprintln!("{}: {message}", self.paint(YELLOW, "warning")),
            MessageFormat::Json => {
                println!(
                    "{}",
                    json!({"type": "warning", "message": message.to_string()})
                );
            }
        }
    }

    /// The error a command ended with; printed even with `-q`.
    pub fn error(&self, error: &CliError) {
        match self.format {
            MessageFormat::Human => eprint!("{}", self.render_error(error)),
            MessageFormat::Json => println!("{}", error_json(error)),
        }
    }

    fn render_error(&self, error: &CliError) -> String {
        let mut out = match error {
            CliError::Located(d) => {
                // The diagnostic renders its own title, location, snippet and help.
                let mut s = d.render(self.color);
                s.push('\n');
                return s;
            }
            _ => format!("{}: {error}\n", self.paint(RED, "error")),
        };
        if let CliError::CheckFailed { reasons, .. } | CliError::Failed { reasons, .. } = error {
            for reason in reasons {
                let mut lines = reason.lines();
                if let Some(first) = lines.next() {
                    out.push_str(&format!("  - {first}\n"));
                }
                for line in lines {
                    out.push_str(&format!("  {line}\n"));
                }
            }
        }
        if let Some(help) = error.help() {
            out.push_str(&format!("  {}: {help}\n", self.paint(CYAN, "help")));
        }
        out
    }
}

/// The JSON form of an error: `{"type":"error", "message", "exit_code", …}`
/// with `file`, `line`, `column` when the error is in a file.
pub fn error_json(error: &CliError) -> Value {
    let mut value = json!({
        "type": "error",
        "message": match error {
            CliError::Located(d) => d.message().to_owned(),
            other => other.to_string(),
        },
        "exit_code": error.exit_code(),
    });
    if let CliError::Located(d) = error {
        let (line, column) = d.line_column();
        value["file"] = json!(d.path().display().to_string());
        value["line"] = json!(line);
        value["column"] = json!(column);
    }
    if let CliError::CheckFailed { reasons, .. } | CliError::Failed { reasons, .. } = error
        && !reasons.is_empty()
    {
        value["reasons"] = json!(reasons);
    }
    if let Some(help) = error.help() {
        value["help"] = json!(help);
    }
    value
}

/// A set of progress bars, one per connector being downloaded.
#[derive(Debug, Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// A bar for one connector, counting bytes.
    pub fn connector(&self, name: &str) -> ConnectorBar {
        let bar = self.multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>20.cyan.bold} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(name.to_owned());
            bar
        });
        ConnectorBar { bar }
    }

    /// Removes every bar from the screen.
    pub fn clear(&self) {
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
        }
    }
}

/// One connector's bar.
#[derive(Debug)]
pub struct ConnectorBar {
    bar: Option<ProgressBar>,
}

impl ConnectorBar {
    /// Sets the number of bytes expected.
    pub fn set_length(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(bytes);
        }
    }

    /// Counts `bytes` more.
    pub fn inc(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// Marks the bar done and removes it.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `1536` → `1.5 KiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss, reason = "a display approximation")]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The candidate closest to `wanted`, when one is close enough to be the
/// likely typo (as cargo suggests subcommands).
pub(crate) fn did_you_mean<'a>(wanted: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(wanted, c), *c))
        .filter(|(distance, c)| *distance <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}
