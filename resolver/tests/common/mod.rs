//! Shared by the integration tests: a throwaway project directory and a way
//! to run the real `lf-resolve` binary in it.
#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(unreachable_pub, reason = "shared by test binaries")]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "test support; a skip says why"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_lf-resolve");

/// A throwaway project directory with its own cache.
pub struct Project {
    dir: tempfile::TempDir,
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The JSON events printed with `--message-format json`.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

impl Project {
    pub fn new() -> Project {
        Project {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn with(files: &[(&str, &str)]) -> Project {
        let p = Project::new();
        for (name, content) in files {
            p.write(name, content);
        }
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The content store of this project's runs.
    pub fn cache(&self) -> PathBuf {
        self.path().join(".cache")
    }

    pub fn write(&self, name: &str, content: &str) {
        let path = self.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(self.path())
            .env("LF_CACHE_DIR", self.cache())
            .env("NO_COLOR", "1")
            .env_remove("LF_LOG")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Like [`run`](Self::run), with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        for (key, value) in env {
            cmd.env(key, value);
        }
        let out = cmd.output().unwrap();
        let filter = |s: &[u8]| {
            String::from_utf8_lossy(s).replace(&self.path().display().to_string(), "[PROJECT]")
        };
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: filter(&out.stdout),
            stderr: filter(&out.stderr),
        }
    }

    /// Starts the binary without waiting for it.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Every file under `dir` (relative to the project) and its bytes.
    pub fn files_under(&self, dir: &str) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.path().join(dir), &mut out);
        out
    }
}

/// sigstore-js for interoperability checks: the install prefix of
/// `scripts/install-sigstore-js.sh` (`LF_SIGSTORE_JS`), or `None` (after
/// saying why) when the test may skip; under CI its absence is a failure.
pub fn sigstore_js() -> Option<PathBuf> {
    match std::env::var_os("LF_SIGSTORE_JS") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("node_modules/@sigstore/verify/package.json")
                    .is_file(),
                "LF_SIGSTORE_JS={} has no @sigstore/verify: run scripts/install-sigstore-js.sh",
                dir.display()
            );
            Some(dir)
        }
        None if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "LF_SIGSTORE_JS is unset under CI: run `eval \"$(scripts/install-sigstore-js.sh)\"` (scripts/test.sh does)"
        ),
        None => {
            eprintln!(
                "skipping: LF_SIGSTORE_JS is unset; run `eval \"$(scripts/install-sigstore-js.sh)\"` to check sigstore-js interoperability"
            );
            None
        }
    }
}

/// Runs the verifier script; `Ok(stdout)` or `Err(stderr)`.
pub fn node_verify(
    prefix: &Path,
    bundle: &Path,
    key: &Path,
    subject: &lf_lockfile::Digest,
) -> Result<String, String> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigstore-js/verify-attestation.cjs");
    let out = std::process::Command::new("node")
        .arg(script)
        .arg(bundle)
        .arg(key)
        .arg(subject.to_string())
        .arg(lf_resolve::attest::TEST_RESULT_PREDICATE_TYPE)
        .env("NODE_PATH", prefix.join("node_modules"))
        .output()
        .expect("node runs (scripts/install-sigstore-js.sh installs it)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
