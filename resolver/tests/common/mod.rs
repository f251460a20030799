//! Shared by the integration tests: a throwaway project directory and a way
//! to run the real `lf-resolve` binary in it.
#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(unreachable_pub, reason = "shared by test binaries")]
#![allow(clippy::unwrap_used, clippy::panic, reason = "test support")]

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
