//! `lf-resolve`: resolves the connectors listed in `latticeflow.toml` to exact
//! OCI digests, verifies them, and records them in `latticeflow.lock`.
//!
//! The library holds the commands; `main.rs` only calls [`run`]. Layers, as in
//! uv: [`cli`] (clap types) → [`settings`] (checked, merged with the
//! environment) → [`commands`] (one module per verb) → [`output`].
//!
//! This crate must never know how Rust wrapper code is generated (that is
//! `lf-wrapper-gen`).

pub mod archive;
pub mod artifact;
pub mod attest;
pub mod cli;
pub mod commands;
pub mod crate_index;
pub mod error;
pub(crate) mod locked;
pub mod output;
pub mod registry;
pub mod runtime_copy;
pub mod settings;
pub mod sign;
pub mod store;
pub mod verify;

use std::ffi::OsString;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::{CliError, EXIT_OK};
use crate::output::Printer;
use crate::settings::Settings;

/// Runs `lf-resolve` with these arguments and returns the exit status.
pub fn run(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> u8 {
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return argument_error(&e, &args),
    };
    let format = cli.global.message_format;
    let settings = match Settings::from_args(cli.global) {
        Ok(s) => s,
        Err(e) => {
            Printer::fallback_for(format).error(&e);
            return e.exit_code();
        }
    };
    init_tracing(&settings);
    let printer = Printer::new(&settings);
    match dispatch(&cli.command, &settings, &printer) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            printer.error(&e);
            e.exit_code()
        }
    }
}

/// Reports a command line clap refused, in the format it asked for: clap's
/// own text for people, or the same JSON error object as every other error,
/// so a tool reading stdout never gets prose. Help and version go through
/// clap unchanged.
fn argument_error(e: &clap::Error, args: &[OsString]) -> u8 {
    use clap::error::ErrorKind;
    let shown = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
    if shown || !json_requested(args) {
        let _ = e.print();
        return u8::try_from(e.exit_code()).unwrap_or(error::EXIT_ERROR);
    }
    let error = CliError::from_clap(e);
    Printer::fallback_for(cli::MessageFormat::Json).error(&error);
    error.exit_code()
}

/// Whether the raw arguments ask for `--message-format json`, read without
/// clap (which just refused them).
fn json_requested(args: &[OsString]) -> bool {
    let mut words = args.iter().skip(1).map(|a| a.to_str().unwrap_or(""));
    let mut json = false;
    while let Some(word) = words.next() {
        match word {
            "--" => break,
            "--message-format" => json = words.next() == Some("json"),
            _ => {
                if let Some(value) = word.strip_prefix("--message-format=") {
                    json = value == "json";
                }
            }
        }
    }
    json
}

fn dispatch(command: &Command, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    match command {
        Command::Init(args) => commands::init::run(args, printer),
        Command::Add(args) => commands::add::run(args, settings, printer),
        Command::Remove(args) => commands::remove::run(args, settings, printer),
        Command::Check(_) => commands::check::run(settings, printer),
        Command::Lock(args) => commands::lock::run(args, settings, printer),
        Command::Fetch(args) => commands::lock::fetch(args, settings, printer),
        Command::Verify(args) => commands::lock::verify(args, settings, printer),
        Command::Generate(args) => commands::generate::run(args, settings, printer),
        Command::Vendor(args) => commands::vendor::run(args, settings, printer),
        Command::Mirror(args) => commands::mirror::run(args, settings, printer),
        Command::Publish(args) => commands::publish::run(args, settings, printer),

        Command::Push(args) => commands::push::run(args, settings, printer),
        Command::Tag(args) => commands::tag::run(args, settings, printer),
        Command::Sign(args) => commands::sign::run(args, settings, printer),
        Command::GenerateKey(args) => commands::sign::generate_key(args, printer),
        Command::Inspect(args) => commands::inspect::run(args, settings, printer),
        Command::List(_) => commands::list::run(settings, printer),
        Command::Outdated(args) => commands::outdated::run(args, settings, printer),
        Command::Login(args) => commands::login::login(args, settings, printer),
        Command::Logout(args) => commands::login::logout(args, settings, printer),
        Command::Wit(args) => commands::wit::run(args, printer),
        Command::New(args) => commands::new::run(args, printer),
        Command::Test(args) => commands::test::run(args, printer),
        Command::Certify(args) => commands::certify::run(args, settings, printer),
        Command::Sbom(args) => commands::sbom::run(args, settings, printer),
        Command::Trust(args) => commands::trust::run(args, settings, printer),
        Command::Completions(args) => commands::completions::run(args),
        Command::Cache(command) => commands::cache::run(command, settings, printer),
    }
}

fn init_tracing(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let default = match (settings.quiet, settings.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("LF_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(settings.color)
        .without_time()
        .try_init();
}
