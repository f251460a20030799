//! `lf-registry-fixtures`: real parts for tests and the demo.
//!
//! It starts a real CNCF distribution registry (Debian's `docker-registry`) on
//! 127.0.0.1, carries the sample connectors ([`connectors`]: WAT sources,
//! `connector.yaml`, contract vectors, and malformed artifacts) and small
//! ABI v2 components ([`components`]), builds their OCI artifacts
//! ([`artifact`]) and pushes them ([`push`]); it will carry the
//! fault-injecting proxy. It must never be linked into the `lf-resolve` binary.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = lf_registry_fixtures::Registry::start()?;
//! // latticeflow/text-upper:1.0, ..., latticeflow/bad-two-wasm-layers:1.0, ...
//! let pushed = lf_registry_fixtures::push_all_blocking(&registry)?;
//! # let _ = pushed;
//! # Ok(())
//! # }
//! ```
//!
//! The registry runs as a child process with its own config and storage in a
//! fresh temporary directory, never the stock `/etc/docker/registry/config.yml`.
//! It is killed when the [`Registry`] is stopped or dropped.
//!
//! ```no_run
//! # fn main() -> Result<(), lf_registry_fixtures::Error> {
//! let registry = lf_registry_fixtures::Registry::builder()
//!     .htpasswd("alice", "secret")
//!     .start()?;
//! let reference = format!("{}/connectors/echo:1.0.0", registry.host());
//! # let _ = reference;
//! # Ok(())
//! # }
//! ```
//!
//! Like registries in the wild, it can also speak HTTPS with a CA of its own
//! ([`RegistryBuilder::tls`], see [`tls`]) and require Bearer tokens from a
//! token server of ours ([`RegistryBuilder::token_auth`], see [`token`]):
//!
//! ```no_run
//! # fn main() -> Result<(), lf_registry_fixtures::Error> {
//! let registry = lf_registry_fixtures::Registry::builder()
//!     .tls()
//!     .token_auth(&[("alice", "secret")])
//!     .start()?;
//! assert!(registry.url().starts_with("https://127.0.0.1:"));
//! let ca = registry.ca_file(); // trust this, or fail with a certificate error
//! // After a client pulled: which scopes did it ask the token server for?
//! let asked = registry.token_requests();
//! # let _ = (ca, asked);
//! # Ok(())
//! # }
//! ```

pub mod artifact;
pub mod components;
pub mod connectors;
pub mod crate_registry;
pub mod proxy;
pub mod push;
pub mod tls;
pub mod token;

pub use connectors::{
    Defect, Fixture, HostCall, MalformedFixture, SECTION_NAME, SectionError, Vector,
    embed_manifest, fixture, fixtures, malformed, manifest_section,
};
pub use crate_registry::{
    CRATE_REGISTRY_ENV, CRATE_REGISTRY_VERSION, CrateRegistry, CrateRegistryError,
    crate_registry_binary,
};
pub use proxy::{Fault, FaultProxy, Listener, Rule, Seen};
pub use push::{
    PushError, PushOptions, PushedArtifact, PushedFixture, Pusher, push_all_blocking,
    push_all_blocking_to, push_connector, push_raw,
};
pub use token::{
    Access, TOKEN_ISSUER, TOKEN_LIFETIME_SECS, TOKEN_SERVICE, TokenKeyHeader, TokenRequest,
};

use tls::TlsFiles;
use token::{TokenConfig, TokenServer};

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Environment variable naming the `docker-registry` binary to run.
pub const BINARY_ENV: &str = "LF_DOCKER_REGISTRY";

/// Where Debian's `docker-registry` package installs the binary.
const DEFAULT_BINARY: &str = "/usr/bin/docker-registry";

/// How long [`RegistryBuilder::start`] waits for the registry unless told otherwise.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// How many lines of the registry's output [`Registry::log_tail`] keeps.
const LOG_LINES: usize = 100;

/// Realm announced in `Www-Authenticate: Basic realm="..."` when htpasswd is on.
pub const HTPASSWD_REALM: &str = "lf-registry-fixtures";

/// bcrypt cost of the generated htpasswd entry: the minimum distribution's Go
/// bcrypt accepts is 4; low keeps every authenticated request fast.
const BCRYPT_COST: u32 = 5;

/// Why a registry could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No `docker-registry` binary was found.
    #[error(
        "docker-registry not found ({detail}); install it with `apt-get install docker-registry` \
         (the test script does), or set {BINARY_ENV} to the binary"
    )]
    BinaryNotFound {
        /// Where it was looked for.
        detail: String,
    },
    /// The binary exists but could not be spawned.
    #[error("cannot start {binary}: {source}")]
    Spawn {
        /// The binary that was run.
        binary: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The registry exited before it answered `GET /v2/`.
    #[error("{binary} exited ({status}) before it was ready; last log lines:\n{log_tail}")]
    Exited {
        /// The binary that was run.
        binary: PathBuf,
        /// Its exit status.
        status: ExitStatus,
        /// The last lines it logged.
        log_tail: String,
    },
    /// The registry did not get ready in time.
    #[error("{binary} did not {phase} within {timeout:?}; last log lines:\n{log_tail}")]
    Timeout {
        /// The binary that was run.
        binary: PathBuf,
        /// What it failed to do, e.g. "log `listening on`".
        phase: String,
        /// How long it was given.
        timeout: Duration,
        /// The last lines it logged.
        log_tail: String,
    },
    /// The htpasswd user name cannot be written to an htpasswd file.
    #[error("invalid htpasswd user {user:?}: {reason}")]
    InvalidUser {
        /// The rejected user name.
        user: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// bcrypt refused the password (e.g. longer than 72 bytes).
    #[error("cannot hash the htpasswd password: {0}")]
    Hash(#[from] bcrypt::BcryptError),
    /// A key, certificate or TLS client config could not be made.
    #[error("cannot {context}: {detail}")]
    Crypto {
        /// What was being made, e.g. "generate the CA key".
        context: &'static str,
        /// What the library said.
        detail: String,
    },
    /// A file or directory for the registry could not be written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// Options for a [`Registry`]; create it with [`Registry::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RegistryBuilder {
    binary: Option<PathBuf>,
    htpasswd: Option<(String, String)>,
    startup_timeout: Duration,
    tls: bool,
    token_users: Option<Vec<(String, String)>>,
    token_anonymous_pull: bool,
    token_key_header: TokenKeyHeader,
    proxy_remote: Option<String>,
}

impl RegistryBuilder {
    /// Runs the registry as a pull-through cache of `remote_url` (e.g.
    /// `http://127.0.0.1:5000`; distribution's `proxy.remoteurl`): manifests
    /// and blobs it lacks are fetched from there and kept, and pushes are
    /// refused (distribution 2.8 answers them `405 UNSUPPORTED`).
    pub fn proxy_remote(mut self, remote_url: impl Into<String>) -> Self {
        self.proxy_remote = Some(remote_url.into());
        self
    }

    /// Requires HTTP basic auth for every request, with this single user.
    ///
    /// Anonymous requests then get `401` with
    /// `Www-Authenticate: Basic realm="lf-registry-fixtures"`.
    /// Replaces [`RegistryBuilder::token_auth`]: distribution takes one auth
    /// method.
    pub fn htpasswd(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.htpasswd = Some((user.into(), password.into()));
        self.token_users = None;
        self
    }

    /// Requires Bearer tokens (distribution's `auth.token`) issued by a token
    /// server of ours on 127.0.0.1, which knows these `(user, password)`
    /// pairs; see [`token`] for the protocol, the JWTs and what is granted.
    ///
    /// Anonymous requests to the registry get `401` with
    /// `Www-Authenticate: Bearer realm="http://127.0.0.1:PORT/token",service="lf-registry-fixtures"`
    /// (plus `scope="repository:NAME:ACTIONS"` on repository URLs).
    /// [`Registry::credentials`] is then the first pair.
    /// Replaces [`RegistryBuilder::htpasswd`].
    pub fn token_auth<U: AsRef<str>, P: AsRef<str>>(mut self, users: &[(U, P)]) -> Self {
        self.token_users = Some(
            users
                .iter()
                .map(|(user, password)| (user.as_ref().to_owned(), password.as_ref().to_owned()))
                .collect(),
        );
        self.htpasswd = None;
        self
    }

    /// With [`RegistryBuilder::token_auth`]: anonymous token requests are
    /// granted `pull` (like public repositories on ghcr.io or Docker Hub)
    /// instead of nothing.
    pub fn token_anonymous_pull(mut self) -> Self {
        self.token_anonymous_pull = true;
        self
    }

    /// With [`RegistryBuilder::token_auth`]: how the JWT header names its
    /// verification key (default [`TokenKeyHeader::X5c`]).
    pub fn token_key_header(mut self, header: TokenKeyHeader) -> Self {
        self.token_key_header = header;
        self
    }

    /// Serves HTTPS (distribution's `http.tls`) with a server certificate for
    /// `127.0.0.1`, `::1` and `localhost` from a throwaway CA made for this
    /// registry; see [`tls`]. [`Registry::url`] is then `https://...`, and
    /// clients must trust [`Registry::ca_pem`] / [`Registry::ca_file`].
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Runs this `docker-registry` binary instead of looking it up
    /// (`$LF_DOCKER_REGISTRY`, else `/usr/bin/docker-registry`, else `PATH`).
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// How long to wait for the registry to log its port and answer `GET /v2/`
    /// (default [`DEFAULT_STARTUP_TIMEOUT`]).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Writes the config into a fresh temporary directory, starts the registry
    /// on a free loopback port, and returns once `GET /v2/` answers.
    pub fn start(self) -> Result<Registry, Error> {
        let binary = match self.binary {
            Some(path) if path.is_file() => path,
            Some(path) => {
                return Err(Error::BinaryNotFound {
                    detail: format!("{} is not a file", path.display()),
                });
            }
            None => find_binary()?,
        };
        let dir = tempfile::Builder::new()
            .prefix("lf-registry-")
            .tempdir()
            .map_err(io_error(
                "cannot create a temporary directory for the registry",
            ))?;
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage)
            .map_err(io_error(format!("cannot create {}", storage.display())))?;
        let htpasswd_path = match &self.htpasswd {
            Some((user, password)) => {
                let path = dir.path().join("htpasswd");
                let entry = htpasswd_entry(user, password)?;
                std::fs::write(&path, entry)
                    .map_err(io_error(format!("cannot write {}", path.display())))?;
                Some(path)
            }
            None => None,
        };
        let tls = if self.tls {
            Some(TlsFiles::generate(dir.path())?)
        } else {
            None
        };
        let token = match self.token_users {
            Some(users) => Some(TokenServer::start(
                TokenConfig {
                    users,
                    anonymous_pull: self.token_anonymous_pull,
                    key_header: self.token_key_header,
                },
                dir.path(),
            )?),
            None => None,
        };
        let mut registry = Registry {
            proxy_remote: self.proxy_remote,
            binary,
            config: dir.path().join("config.yml"),
            storage,
            htpasswd_path,
            credentials: self.htpasswd,
            tls,
            token,
            startup_timeout: self.startup_timeout,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            running: None,
            log: Arc::default(),
            dir,
        };
        registry.launch(0)?;
        Ok(registry)
    }
}

/// A running CNCF distribution registry on 127.0.0.1 (plain HTTP, or HTTPS
/// with [`RegistryBuilder::tls`]).
///
/// Dropping it kills the registry (and its token server, if any) and deletes
/// its config, certificates and storage.
#[derive(Debug)]
pub struct Registry {
    /// `proxy.remoteurl` with [`RegistryBuilder::proxy_remote`].
    proxy_remote: Option<String>,
    binary: PathBuf,
    config: PathBuf,
    storage: PathBuf,
    htpasswd_path: Option<PathBuf>,
    credentials: Option<(String, String)>,
    tls: Option<TlsFiles>,
    token: Option<TokenServer>,
    startup_timeout: Duration,
    /// Port 0 until the first launch logs its port; kept across stop and restart.
    addr: SocketAddr,
    running: Option<Running>,
    log: Arc<Mutex<VecDeque<String>>>,
    /// Last field: removed only after the child is gone.
    dir: tempfile::TempDir,
}

/// The child process and the threads draining its output.
#[derive(Debug)]
struct Running {
    child: Child,
    drains: Vec<JoinHandle<()>>,
}

impl Registry {
    /// Starts a registry without auth: same as `Registry::builder().start()`.
    pub fn start() -> Result<Registry, Error> {
        Self::builder().start()
    }

    /// Options for a registry: binary, auth, startup timeout.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder {
            binary: None,
            htpasswd: None,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            tls: false,
            token_users: None,
            token_anonymous_pull: false,
            token_key_header: TokenKeyHeader::default(),
            proxy_remote: None,
        }
    }

    /// The address the registry listens on (it stays the same across
    /// [`Registry::restart`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`: the registry part of an OCI reference.
    pub fn host(&self) -> String {
        self.addr().to_string()
    }

    /// `http://127.0.0.1:PORT`, or `https://127.0.0.1:PORT` with
    /// [`RegistryBuilder::tls`]: the base URL for HTTP requests.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr())
    }

    /// Whether the registry serves HTTPS ([`RegistryBuilder::tls`]).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The CA certificate (PEM) that issued the registry's server
    /// certificate, with [`RegistryBuilder::tls`].
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|tls| tls.ca_pem.as_str())
    }

    /// The file holding [`Registry::ca_pem`] (for a `ca-file` setting), with
    /// [`RegistryBuilder::tls`].
    pub fn ca_file(&self) -> Option<&Path> {
        self.tls.as_ref().map(|tls| tls.ca_path.as_path())
    }

    /// `http://127.0.0.1:PORT/token`: the token server's realm, with
    /// [`RegistryBuilder::token_auth`].
    pub fn token_realm(&self) -> Option<String> {
        self.token.as_ref().map(TokenServer::realm)
    }

    /// The PEM file distribution verifies tokens against (`rootcertbundle`),
    /// with [`RegistryBuilder::token_auth`].
    pub fn token_rootcertbundle(&self) -> Option<&Path> {
        self.token.as_ref().map(TokenServer::bundle_path)
    }

    /// Every request the token server answered so far, oldest first (empty
    /// without [`RegistryBuilder::token_auth`]): who asked, for which scopes,
    /// what was granted.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.token
            .as_ref()
            .map(TokenServer::requests)
            .unwrap_or_default()
    }

    /// The registry's filesystem storage root, for tests that inspect or
    /// corrupt what it stores.
    ///
    /// Layout (distribution 2.x filesystem driver), relative to this directory:
    /// - blob bytes: `docker/registry/v2/blobs/sha256/<first 2 hex>/<hex>/data`
    ///   (see [`Registry::blob_path`]);
    /// - per repository: `docker/registry/v2/repositories/<name>/` with
    ///   `_layers/sha256/<hex>/link`, `_manifests/revisions/sha256/<hex>/link`,
    ///   `_manifests/tags/<tag>/current/link` and `_uploads/`.
    ///
    /// The registry serves blob files as they are, with the digest from the
    /// path in `Docker-Content-Digest`: overwriting `data` yields a blob whose
    /// bytes do not match its digest.
    pub fn storage_dir(&self) -> &Path {
        &self.storage
    }

    /// Where the bytes of the blob `digest` (`sha256:<hex>`, or bare hex taken
    /// as sha256) are stored; see [`Registry::storage_dir`].
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
        let prefix = hex.get(..2).unwrap_or(hex);
        self.storage
            .join("docker/registry/v2/blobs")
            .join(algorithm)
            .join(prefix)
            .join(hex)
            .join("data")
    }

    /// The htpasswd user and password, when auth is on; with
    /// [`RegistryBuilder::token_auth`], the first token user.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        match &self.credentials {
            Some((user, password)) => Some((user.as_str(), password.as_str())),
            None => self.token.as_ref().and_then(TokenServer::first_user),
        }
    }

    /// The last ~100 lines the registry wrote (stderr: its log; stdout: its
    /// access log), oldest first, across restarts.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }

    /// Whether the registry process is still alive.
    pub fn is_running(&mut self) -> bool {
        self.running
            .as_mut()
            .is_some_and(|running| matches!(running.child.try_wait(), Ok(None)))
    }

    /// Kills the registry and waits for it to exit; its storage is kept.
    /// Does nothing if it is not running.
    pub fn stop(&mut self) {
        if let Some(mut running) = self.running.take() {
            // Errors mean it already exited; wait() reaps it either way.
            let _ = running.child.kill();
            let _ = running.child.wait();
            for drain in running.drains {
                let _ = drain.join();
            }
        }
    }

    /// Stops the registry if it runs, then starts it again with the same
    /// config, credentials and storage, on the same port.
    ///
    /// Fails with [`Error::Exited`] (log tail: "address already in use") if
    /// another process took the port in the meantime.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.stop();
        push_line(
            &self.log,
            "--- lf-registry-fixtures: restart ---".to_owned(),
        );
        self.launch(self.addr.port())
    }

    /// Writes the config for `port` (0: any free port), spawns the registry and
    /// waits until it answers `GET /v2/` (over TLS with [`RegistryBuilder::tls`]).
    fn launch(&mut self, port: u16) -> Result<(), Error> {
        let mut config = config_yaml(port, &self.storage, self.htpasswd_path.as_deref());
        if let Some(tls) = &self.tls {
            config.push_str(&tls_yaml(&tls.cert_path, &tls.key_path));
        }
        if let Some(token) = &self.token {
            config.push_str(&token.config_yaml());
        }
        if let Some(remote) = &self.proxy_remote {
            // A top-level section: its place in the file does not matter.
            config.push_str(&format!("proxy:\n  remoteurl: {}\n", yaml_string(remote)));
        }
        std::fs::write(&self.config, config)
            .map_err(io_error(format!("cannot write {}", self.config.display())))?;
        let mut child = Command::new(&self.binary)
            .arg("serve")
            .arg(&self.config)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn {
                binary: self.binary.clone(),
                source,
            })?;
        let (lines, received) = mpsc::channel();
        let drains = vec![
            drain(child.stdout.take(), lines.clone(), Arc::clone(&self.log)),
            drain(child.stderr.take(), lines, Arc::clone(&self.log)),
        ];
        // From here on, Drop/stop cleans the child up on every error path.
        self.running = Some(Running { child, drains });
        let deadline = Instant::now() + self.startup_timeout;

        let addr = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(remaining) {
                Ok(line) => {
                    if let Some(addr) = listening_addr(&line) {
                        break addr;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(self.fail("log `listening on 127.0.0.1:PORT`"));
                }
                // Both pipes closed: the process is exiting.
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.fail("log `listening on 127.0.0.1:PORT`"));
                }
            }
        };
        // Lines logged after startup only go to the log tail.
        drop(received);
        self.addr = addr;

        let auth = self.credentials.is_some() || self.token.is_some();
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            let answer = match &self.tls {
                Some(tls) => tls.probe(addr),
                None => probe(addr),
            };
            match answer {
                Ok(200) => return Ok(()),
                Ok(401) if auth => return Ok(()),
                Ok(status) => last = format!("last answer: HTTP {status}"),
                Err(error) => last = format!("last error: {error}"),
            }
            if !self.is_running() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(self.fail(&format!("answer `GET /v2/` on {addr} ({last})")))
    }

    /// Builds the error for a failed launch (exited or timed out) and stops
    /// the child.
    fn fail(&mut self, phase: &str) -> Error {
        let mut status = None;
        if let Some(running) = self.running.as_mut() {
            // Give a process that closed its pipes a moment to be reaped.
            let until = Instant::now() + Duration::from_millis(500);
            while status.is_none() && Instant::now() < until {
                match running.child.try_wait() {
                    Ok(Some(exited)) => status = Some(exited),
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                    Err(_) => break,
                }
            }
        }
        self.stop();
        let binary = self.binary.clone();
        let log_tail = self.log_tail();
        match status {
            Some(status) => Error::Exited {
                binary,
                status,
                log_tail,
            },
            None => Error::Timeout {
                binary,
                phase: phase.to_owned(),
                timeout: self.startup_timeout,
                log_tail,
            },
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `$LF_DOCKER_REGISTRY`, else `/usr/bin/docker-registry`, else `PATH`.
fn find_binary() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::BinaryNotFound {
                detail: format!("{BINARY_ENV}={} is not a file", path.display()),
            })
        };
    }
    let default = Path::new(DEFAULT_BINARY);
    if default.is_file() {
        return Ok(default.to_owned());
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("docker-registry"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| Error::BinaryNotFound {
            detail: format!("{BINARY_ENV} unset, no {DEFAULT_BINARY}, none on PATH"),
        })
}

/// One htpasswd line, `user:$2y$05$...`. distribution 2.8.2 (Go's bcrypt)
/// accepts `$2a$`, `$2b$` and `$2y$`; `$2y$` is what `htpasswd -B` writes.
fn htpasswd_entry(user: &str, password: &str) -> Result<String, Error> {
    let reason = if user.is_empty() {
        Some("empty")
    } else if user.contains(':') {
        Some("contains ':'")
    } else if user.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    };
    if let Some(reason) = reason {
        return Err(Error::InvalidUser {
            user: user.to_owned(),
            reason,
        });
    }
    let hash = bcrypt::non_truncating_hash_with_result(password, BCRYPT_COST)?;
    Ok(format!(
        "{user}:{}\n",
        hash.format_for_version(bcrypt::Version::TwoY)
    ))
}

/// The registry config. Everything the registry writes stays under `storage`.
fn config_yaml(port: u16, storage: &Path, htpasswd: Option<&Path>) -> String {
    let mut yaml = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        yaml,
        "version: 0.1\n\
         log:\n  level: info\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: lf-registry-fixtures-not-a-secret\n",
        yaml_string(&storage.to_string_lossy()),
    );
    if let Some(path) = htpasswd {
        let _ = write!(
            yaml,
            "auth:\n  htpasswd:\n    realm: {}\n    path: {}\n",
            yaml_string(HTPASSWD_REALM),
            yaml_string(&path.to_string_lossy()),
        );
    }
    yaml
}

/// distribution's `http.tls`, to append to [`config_yaml`] (whose last
/// section is `http:`, before any `auth:`).
fn tls_yaml(certificate: &Path, key: &Path) -> String {
    format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        yaml_string(&certificate.to_string_lossy()),
        yaml_string(&key.to_string_lossy()),
    )
}

/// A YAML double-quoted scalar.
fn yaml_string(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04x}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// The address in a line like
/// `time=... level=info msg="listening on 127.0.0.1:42199" go.version=...`.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("listening on ")?;
    let end = rest
        .find(|c: char| c == '"' || c == ',' || c.is_whitespace())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Child output we drain; both pipes go through the same code.
trait Pipe: Read + Send + 'static {}
impl Pipe for ChildStdout {}
impl Pipe for ChildStderr {}

/// Reads `pipe` to its end so the registry never blocks on a full pipe,
/// keeping the last lines in `log` and sending each line to the startup
/// waiter while it listens.
fn drain<P: Pipe>(
    pipe: Option<P>,
    lines: Sender<String>,
    log: Arc<Mutex<VecDeque<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let Some(pipe) = pipe else { return };
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                    // The waiter hangs up once the registry is ready.
                    let _ = lines.send(line.clone());
                    push_line(&log, line);
                }
            }
        }
    })
}

fn push_line(log: &Mutex<VecDeque<String>>, line: String) {
    let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
    if log.len() == LOG_LINES {
        log.pop_front();
    }
    log.push_back(line);
}

fn tail(log: &Mutex<VecDeque<String>>) -> String {
    let log = log.lock().unwrap_or_else(PoisonError::into_inner);
    let mut text = String::new();
    for line in log.iter() {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// `GET /v2/` over a bare `TcpStream`, returning the status code.
///
/// A hand-written HTTP/1.1 request on purpose: this crate stays free of an
/// HTTP client dependency, and a status line is all readiness needs.
fn probe(addr: SocketAddr) -> io::Result<u16> {
    let timeout = Duration::from_secs(1);
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    http_status(stream, addr)
}

/// Sends `GET /v2/` on `stream` (plain or TLS) and returns the status code.
fn http_status(mut stream: impl Read + Write, addr: SocketAddr) -> io::Result<u16> {
    write!(
        stream,
        "GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut status_line = String::new();
    BufReader::new(stream).read_line(&mut status_line)?;
    // "HTTP/1.1 200 OK"
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not an HTTP status line: {status_line:?}"),
            )
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_the_listening_line() {
        let line = r#"time="2026-11-25T10:09:43Z" level=info msg="listening on 127.0.0.1:42199" go.version=go1.19.8"#;
        assert_eq!(
            listening_addr(line),
            Some("127.0.0.1:42199".parse().unwrap())
        );
        let tls = r#"level=info msg="listening on 127.0.0.1:5000, tls" go.version=go1.19.8"#;
        assert_eq!(listening_addr(tls), Some("127.0.0.1:5000".parse().unwrap()));
        assert_eq!(listening_addr(r#"msg="redis not configured""#), None);
    }

    #[test]
    fn htpasswd_entry_is_2y_bcrypt() {
        let entry = htpasswd_entry("alice", "secret").unwrap();
        let hash = entry.trim_end().strip_prefix("alice:").unwrap();
        assert!(hash.starts_with("$2y$05$"), "{hash}");
        assert!(bcrypt::verify("secret", hash).unwrap());
        assert!(matches!(
            htpasswd_entry("a:b", "x"),
            Err(Error::InvalidUser { .. })
        ));
    }

    #[test]
    fn config_quotes_paths() {
        let yaml = config_yaml(
            5000,
            Path::new(r#"/tmp/a "b"\c"#),
            Some(Path::new("/tmp/htpasswd")),
        );
        assert!(
            yaml.contains(r#"rootdirectory: "/tmp/a \"b\"\\c""#),
            "{yaml}"
        );
        assert!(yaml.contains("addr: 127.0.0.1:5000"), "{yaml}");
        assert!(yaml.contains(r#"path: "/tmp/htpasswd""#), "{yaml}");
        assert!(yaml.contains("enabled: true"), "{yaml}");
    }

    #[test]
    fn log_keeps_the_last_lines() {
        let log = Mutex::new(VecDeque::new());
        for i in 0..(LOG_LINES + 5) {
            push_line(&log, i.to_string());
        }
        let text = tail(&log);
        assert_eq!(text.lines().count(), LOG_LINES);
        assert!(text.starts_with("5\n"));
    }
}
