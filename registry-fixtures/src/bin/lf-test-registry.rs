//! Starts a throwaway registry for the demo and benchmarks.
//!
//! Prints `LF_REGISTRY=127.0.0.1:PORT` and `LF_REGISTRY_STORAGE=DIR` on
//! stdout, then serves until stdin closes (Ctrl-D, or the parent closing the
//! pipe), and removes the storage on the way out.
//! Usage: `lf-test-registry [--htpasswd USER:PASSWORD]`, which also prints
//! `LF_REGISTRY_USER` and `LF_REGISTRY_PASSWORD`.
//!
//! Ctrl-C in a terminal reaches the whole process group, so the registry dies
//! with it, but its temporary directory is then left behind.

#![allow(clippy::print_stdout, reason = "stdout is this tool's interface")]
#![allow(clippy::print_stderr, reason = "usage and startup errors")]

use std::io::Write as _;
use std::process::ExitCode;

use lf_registry_fixtures::Registry;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut builder = Registry::builder();
    match args.as_slice() {
        [] => {}
        [flag, credentials] if flag == "--htpasswd" => match credentials.split_once(':') {
            Some((user, password)) => builder = builder.htpasswd(user, password),
            None => return usage(),
        },
        _ => return usage(),
    }
    let registry = match builder.start() {
        Ok(registry) => registry,
        Err(error) => {
            eprintln!("lf-test-registry: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("LF_REGISTRY={}", registry.host());
    println!("LF_REGISTRY_STORAGE={}", registry.storage_dir().display());
    if let Some((user, password)) = registry.credentials() {
        println!("LF_REGISTRY_USER={user}");
        println!("LF_REGISTRY_PASSWORD={password}");
    }
    let _ = std::io::stdout().flush();
    // Serve until stdin reaches its end; the bytes themselves do not matter.
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    drop(registry);
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("usage: lf-test-registry [--htpasswd USER:PASSWORD]");
    ExitCode::from(2)
}
