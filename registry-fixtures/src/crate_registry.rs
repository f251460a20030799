//! A real cargo registry on 127.0.0.1 for the `publish` tests:
//! `ferro-cargo-registry-server` 1.0.0 (sparse index and the publish API),
//! installed by `scripts/install-crate-registry.sh`.
//!
//! Why this server: it is maintained, on crates.io, pure Rust (a
//! `cargo install --locked` of a few minutes, no C libraries, no database),
//! and serves the sparse index cargo reads and the `PUT /api/v1/crates/new`
//! cargo publishes with. It accepts any token; a registry that refuses one is
//! made by putting a [`crate::FaultProxy`] in front ([`CrateRegistry::start_behind`]).
//!
//! [`CrateRegistry::start`] picks a free loopback port, keeps the index and
//! crates in a temporary directory, returns once `GET /healthz` answers (a
//! bounded wait), and the registry is killed on drop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming the server binary (the install script
/// prints it).
pub const CRATE_REGISTRY_ENV: &str = "LF_CRATE_REGISTRY";

/// The pinned server version the install script installs.
pub const CRATE_REGISTRY_VERSION: &str = "1.0.0";

/// How long the server may take to answer `/healthz`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the crate registry could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrateRegistryError {
    /// No server binary.
    #[error(
        "ferro-cargo-registry-server not found ({0}); run `scripts/install-crate-registry.sh` and set {CRATE_REGISTRY_ENV} as it prints"
    )]
    NotFound(String),
    /// A file, port or process could not be set up.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The server exited or did not answer in time.
    #[error("the crate registry did not get ready: {0}")]
    NotReady(String),
}

/// The server binary: `$LF_CRATE_REGISTRY`, else where the install script
/// puts it (`${LF_TOOLS_DIR:-~/.cache/latticeflow/tools}/ferro-1.0.0/bin`).
pub fn crate_registry_binary() -> Result<PathBuf, CrateRegistryError> {
    if let Some(path) = std::env::var_os(CRATE_REGISTRY_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(CrateRegistryError::NotFound(format!(
                "{CRATE_REGISTRY_ENV}={} is not a file",
                path.display()
            )))
        };
    }
    let tools = std::env::var_os("LF_TOOLS_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/latticeflow/tools"))
        })
        .ok_or_else(|| CrateRegistryError::NotFound("no HOME".to_owned()))?;
    let path = tools
        .join(format!("ferro-{CRATE_REGISTRY_VERSION}"))
        .join("bin/ferro-cargo-registry-server");
    if path.is_file() {
        Ok(path)
    } else {
        Err(CrateRegistryError::NotFound(format!(
            "`{}` does not exist",
            path.display()
        )))
    }
}

/// A running cargo registry on 127.0.0.1.
#[derive(Debug)]
pub struct CrateRegistry {
    addr: SocketAddr,
    api: String,
    child: Option<Child>,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl CrateRegistry {
    /// Starts the registry on a free loopback port.
    pub fn start() -> Result<CrateRegistry, CrateRegistryError> {
        let addr = free_port()?;
        Self::launch(addr, None)
    }

    /// Starts the registry on `addr` (free, loopback) and has it advertise
    /// `api` (`http://127.0.0.1:PORT`, e.g. a proxy in front of `addr`) as
    /// where cargo downloads and publishes.
    pub fn start_behind(addr: SocketAddr, api: &str) -> Result<CrateRegistry, CrateRegistryError> {
        Self::launch(addr, Some(api.to_owned()))
    }

    /// A free port on 127.0.0.1 (bound, then released).
    pub fn free_addr() -> Result<SocketAddr, CrateRegistryError> {
        free_port()
    }

    fn launch(addr: SocketAddr, api: Option<String>) -> Result<CrateRegistry, CrateRegistryError> {
        let binary = crate_registry_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("lf-crate-registry-")
            .tempdir()
            .map_err(|source| CrateRegistryError::Io {
                context: "cannot create a temporary directory".to_owned(),
                source,
            })?;
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log).map_err(|source| CrateRegistryError::Io {
            context: format!("cannot create {}", log.display()),
            source,
        })?;
        let log_err = log_file
            .try_clone()
            .map_err(|source| CrateRegistryError::Io {
                context: "cannot duplicate the log file".to_owned(),
                source,
            })?;
        let api = api.unwrap_or_else(|| format!("http://{addr}"));
        let mut cmd = Command::new(&binary);
        cmd.env("FERRO_CARGO_REGISTRY_LISTEN", addr.to_string())
            .env("FERRO_CARGO_REGISTRY_DATA", dir.path().join("data"))
            .env("FERRO_CARGO_REGISTRY_API", &api)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err);
        let child = cmd.spawn().map_err(|source| CrateRegistryError::Io {
            context: format!("cannot start {}", binary.display()),
            source,
        })?;
        let mut registry = CrateRegistry {
            addr,
            api,
            child: Some(child),
            log,
            dir,
        };
        registry.wait_ready()?;
        Ok(registry)
    }

    fn wait_ready(&mut self) -> Result<(), CrateRegistryError> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(CrateRegistryError::NotReady(format!(
                    "it exited ({status}): {}",
                    self.log_text()
                )));
            }
            if http_status(self.addr, "/healthz") == Some(200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(CrateRegistryError::NotReady(format!(
                    "no answer on {} within {STARTUP_TIMEOUT:?}: {}",
                    self.addr,
                    self.log_text()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the server logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The origin it advertises for downloads and publishing.
    pub fn api(&self) -> &str {
        &self.api
    }

    /// Its index as cargo names it: `sparse+http://127.0.0.1:PORT/`.
    pub fn index_url(&self) -> String {
        format!("sparse+http://{}/", self.addr)
    }

    /// A `.cargo/config.toml` naming this registry `name`.
    pub fn cargo_config(&self, name: &str) -> String {
        format!("[registries.{name}]\nindex = \"{}\"\n", self.index_url())
    }

    /// The data directory (index state and `.crate` files).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The index file of crate `name` as the server answers it (one JSON
    /// object per version), or `None` when it has none (404).
    pub fn index_file(&self, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        let path = match name.len() {
            1 | 2 => format!("/{}/{name}", name.len()),
            3 => format!("/3/{}/{name}", &name[..1]),
            _ => format!("/{}/{}/{name}", &name[..2], &name[2..4]),
        };
        let (status, body) = http_get(self.addr, &path)?;
        (status == 200).then_some(body)
    }

    /// Kills the server; the data stays until drop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for CrateRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> Result<SocketAddr, CrateRegistryError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| CrateRegistryError::Io {
        context: "cannot bind a loopback port".to_owned(),
        source,
    })?;
    listener
        .local_addr()
        .map_err(|source| CrateRegistryError::Io {
            context: "cannot read the bound address".to_owned(),
            source,
        })
}

/// The status of `GET path` on `addr`, with short timeouts; `None` when
/// nothing answers.
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    http_get(addr, path).map(|(status, _)| status)
}

/// `GET path` on `addr` (HTTP/1.1, `Connection: close`, bounded in time and
/// size): the status and the body (de-chunked when needed).
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.take(16 * 1024 * 1024).read_to_end(&mut raw).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    if !chunked {
        return Some((status, body.to_owned()));
    }
    let mut out = String::new();
    let mut rest = body;
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            return Some((status, out));
        }
        out.push_str(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
}
