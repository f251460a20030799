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
        }
    }

    /// A human printer without colour, for errors found before settings exist.
    pub fn fallback() -> Printer {
        Printer {
            format: MessageFormat::Human,
            quiet: false,
            color: false,
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
        if let CliError::CheckFailed { reasons, .. } = error {
            for reason in reasons {
                out.push_str(&format!("  - {reason}\n"));
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
    if let CliError::CheckFailed { reasons, .. } = error
        && !reasons.is_empty()
    {
        value["reasons"] = json!(reasons);
    }
    if let Some(help) = error.help() {
        value["help"] = json!(help);
    }
    value
}
