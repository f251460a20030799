//! Support for the end-to-end tests in `tests/`, which drive the real
//! `lf-resolve` binary against a real registry.
//!
//! Every test file needs the same few things around the binary: finding it
//! in the target directory, running it inside a project with a cache of the
//! project's own, telling a failure apart with its output, and building a
//! generated bundle offline the way a user's CI would. They are written once
//! here so that a change to how the binary is run (an environment variable,
//! closing stdin) reaches every test at the same time.
//!
//! Everything here panics on failure: it only runs inside tests.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The password of the signing keys tests create with `generate-key`
/// (passed as `COSIGN_PASSWORD` to every run).
pub const KEY_PASSWORD: &str = "e2e";

/// The workspace root: the folder above this crate.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `lf-resolve` binary of this build: `target/<profile>/lf-resolve`,
/// beside the `deps/` folder holding the running test. (`CARGO_BIN_EXE_*` is
/// only set for a package's own binaries.)
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = profile_dir.join(format!("lf-resolve{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "`{}` is missing: run the tests with `cargo test --workspace` (or `cargo build -p lf-resolve` first)",
        bin.display()
    );
    bin
}

/// Runs `lf-resolve args` in `dir`, with no colours, stdin closed, the
/// signing key password set, and `dir/.cache` as the content store.
pub fn lf(dir: &Path, args: &[&str]) -> Output {
    lf_with(dir, args, &[])
}

/// [`lf`] with more environment variables (toolchains, a code cache).
pub fn lf_with(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COSIGN_PASSWORD", KEY_PASSWORD)
        .env("LF_CACHE_DIR", dir.join(".cache"))
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The stdout of a run that must have succeeded; otherwise panics with
/// `what` and both outputs.
pub fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `[profile.*]` sections of the workspace manifest. A crate built with
/// [`build_offline`] appends them to its own manifest, so it is compiled with
/// the same settings and reuses what the shared target directory holds.
pub fn workspace_profiles() -> String {
    let manifest = std::fs::read_to_string(workspace().join("Cargo.toml")).unwrap();
    manifest[manifest.find("\n[profile.").unwrap()..].to_owned()
}

/// Builds the crate in `crate_dir` offline, in this workspace's target
/// directory and with this workspace's `Cargo.lock` (so every dependency is
/// one already downloaded and mostly already built), and returns the path of
/// its binary `bin`.
pub fn build_offline(crate_dir: &Path, bin: &str) -> PathBuf {
    let workspace = workspace();
    std::fs::copy(workspace.join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();
    let target = workspace.join("target");
    let build = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet"])
        .current_dir(crate_dir)
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "offline build of `{}`: {}",
        crate_dir.display(),
        String::from_utf8_lossy(&build.stderr)
    );
    target
        .join("debug")
        .join(format!("{bin}{}", std::env::consts::EXE_SUFFIX))
}
