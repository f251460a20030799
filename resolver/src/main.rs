//! The `lf-resolve` binary: parse, run one command, exit with its status.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(lf_resolve::run(std::env::args_os()))
}
