//! What the embedding application provides to nodes: one [`Capabilities`]
//! object with a method per capability.
//!
//! One trait rather than nine: a node call needs a single value to carry into
//! the wasmtime store, the host dispatches on [`Capability`] in one place, and
//! an application implements only what it offers (every method defaults to an
//! `unsupported` error). Which capabilities a *module* can reach is decided
//! elsewhere — by what is linked — so implementing a method grants nothing.
//!
//! Requests and replies are the JSON documents of ABI v1; the host wraps a
//! reply as `{"ok": <value>}` or `{"error": <HostError>}` before placing it
//! in the module's memory.

use serde_json::Value;

use crate::spec::{Capability, ConnectorId};

/// An error a capability reports to the module (`{"error": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostError {
    /// A short machine-readable code (`unavailable`, `not_found`, …).
    pub code: String,
    /// A human-readable message; omitted from the reply when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Whether the module may retry the request.
    #[serde(default)]
    pub retryable: bool,
}

impl HostError {
    /// An error with `code` and `message`, not retryable.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        HostError {
            code: code.into(),
            message: Some(message.into()),
            retryable: false,
        }
    }

    /// The same error, marked retryable (or not).
    #[must_use]
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// The error every method returns unless the application implements it.
    pub fn unsupported(capability: Capability) -> Self {
        HostError::new(
            "unsupported",
            format!("this application does not provide `{capability}`"),
        )
    }
}

/// The answer of a capability: the `ok` value or an error.
pub type HostResult = Result<Value, HostError>;

/// The host facilities an embedding application offers to nodes.
///
/// Each method gets the calling connector's id (to scope keys, label logs,
/// apply per-connector policy) and the module's request document. Methods
/// run on the caller's thread, inside the node call; they may block.
pub trait Capabilities: Send + Sync + 'static {
    /// `http.read`: e.g. `{"method": "GET", "url": ...}` → `{"status", "body"}`.
    fn http_read(&self, connector: &ConnectorId, request: &Value) -> HostResult {
        let _ = (connector, request);
        Err(HostError::unsupported(Capability::HttpRead))
    }

    /// `http.write`: requests with side effects.
    fn http_write(&self, connector: &ConnectorId, request: &Value) -> HostResult {
        let _ = (connector, request);
        Err(HostError::unsupported(Capability::HttpWrite))
    }

    /// `kv.read`: e.g. `{"key": ...}` → `{"value": ... | null}`.
    fn kv_read(&self, connector: &ConnectorId, request: &Value) -> HostResult {
        let _ = (connector, request);
        Err(HostError::unsupported(Capability::KvRead))
    }

    /// `kv.write`: e.g. `{"key": ..., "value": ...}` → `{}`.
    fn kv_write(&self, connector: &ConnectorId, request: &Value) -> HostResult {
        let _ = (connector, request);
        Err(HostError::unsupported(Capability::KvWrite))
    }

    /// `db.read`: queries.
    fn db_read(&self, connector: &ConnectorId, request: &Value) -> HostResult {
        let _ = (connector, request);
        Err(HostError::unsupported(Capability::DbRead))
    }

    /// `db.write`: modifications.
    fn db_write(&self, connector: &ConnectorId, request: &Value) -> HostResult {
        let _ = (connector, request);
        Err(HostError::unsupported(Capability::DbWrite))
    }

    /// `clock`: the wall clock.
    fn clock(&self, connector: &ConnectorId, request: &Value) -> HostResult {
        let _ = (connector, request);
        Err(HostError::unsupported(Capability::Clock))
    }

    /// `random`: random bytes.
    fn random(&self, connector: &ConnectorId, request: &Value) -> HostResult {
        let _ = (connector, request);
        Err(HostError::unsupported(Capability::Random))
    }

    /// `log`: a log line.
    fn log(&self, connector: &ConnectorId, request: &Value) -> HostResult {
        let _ = (connector, request);
        Err(HostError::unsupported(Capability::Log))
    }
}

/// Calls the method of `caps` for `capability`.
pub fn dispatch(
    caps: &dyn Capabilities,
    capability: Capability,
    connector: &ConnectorId,
    request: &Value,
) -> HostResult {
    match capability {
        Capability::Clock => caps.clock(connector, request),
        Capability::DbRead => caps.db_read(connector, request),
        Capability::DbWrite => caps.db_write(connector, request),
        Capability::HttpRead => caps.http_read(connector, request),
        Capability::HttpWrite => caps.http_write(connector, request),
        Capability::KvRead => caps.kv_read(connector, request),
        Capability::KvWrite => caps.kv_write(connector, request),
        Capability::Log => caps.log(connector, request),
        Capability::Random => caps.random(connector, request),
    }
}

/// An application that offers nothing: every capability answers `unsupported`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCapabilities;

impl Capabilities for NoCapabilities {}
