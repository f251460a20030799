//! Pushes the fixture connectors to a registry, for the demo.
//!
//! Usage: `lf-push-fixtures HOST:PORT [--malformed]`. Prints one line per
//! good connector: `NAME REFERENCE DIGEST`, and with `--malformed` also the
//! malformed ones (as `bad-NAME`).
#![allow(clippy::print_stdout, reason = "stdout is this tool's interface")]
#![allow(clippy::print_stderr, reason = "usage and errors")]

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (host, malformed) = match args.as_slice() {
        [host] => (host, false),
        [host, flag] if flag == "--malformed" => (host, true),
        _ => {
            eprintln!("usage: lf-push-fixtures HOST:PORT [--malformed]");
            return ExitCode::from(2);
        }
    };
    match lf_registry_fixtures::push_all_blocking_to(host, None) {
        Ok(pushed) => {
            for fixture in pushed {
                if fixture.rejection.is_none() || malformed {
                    println!(
                        "{} {} {}",
                        fixture.name, fixture.reference, fixture.manifest_digest
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("lf-push-fixtures: {error}");
            ExitCode::FAILURE
        }
    }
}
