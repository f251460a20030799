//! Native connectors: nodes written in plain Rust against a `connector.yaml`,
//! registered in the same [`NodeRegistry`](super::NodeRegistry) as WASM nodes.
//!
//! A WASM module can only reach the capabilities the host links for it. Rust
//! code in the application's process has no such wall, so the boundary is
//! drawn in the type system instead: the author's node never sees the
//! application's [`Capabilities`] object, only a struct of *handles*
//! ([`KvRead`], [`KvWrite`], [`HttpRead`], …) that `lf-wrapper-gen` generates
//! from the manifest with one field per **declared** capability. Reaching an
//! undeclared one is then a compile error in the author's code (`no field
//! `kv_write``), not a run-time surprise. Each handle exposes only the
//! operations of its capability and carries the connector id, so the
//! application still sees which connector asked.
//!
//! A handle can only be made from a [`Grant`], which has no public
//! constructor: only [`Grants::handle`] makes one, only for a capability
//! the node's spec lists, and every call through it goes to that one
//! capability. [`Handle`] is sealed, so no other type can receive a grant.
//! A hand-written caps struct cannot smuggle an undeclared handle in either.
//!
//! [`typed_node`] turns the author's typed function into a [`NativeNode`]
//! with the same contract as a WASM node: inputs are checked against the
//! spec before the call, outputs after it (the same checker, in `NativeNode`'s
//! [`Node::invoke`](super::Node::invoke)), and a [`Failure`] with a declared
//! code becomes [`NodeError::Connector`] with the *declared* `retryable`, while an
//! undeclared code is [`NodeError::UndeclaredErrorCode`], as for modules.
//!
//! What native nodes do not get: fuel, memory caps and deadlines. They are
//! trusted Rust compiled into the application; the handles limit *what* they
//! may reach, not how much CPU they burn.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Capabilities, HostError, NativeNode, NodeError, dispatch};
use crate::spec::{Capability, ConnectorId, NodeSpec};

/// The `module_digest` of a native node's spec: empty, as it has no module
/// (certification evidence shows it as such).
pub const NATIVE_DIGEST: &str = "";

/// A node's own error: a code (declared in the manifest's `errors`) and a
/// message. `retryable` comes from the manifest, not from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The error code.
    pub code: String,
    /// The human-readable message.
    pub message: String,
}

impl Failure {
    /// A failure with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Failure {}

/// A capability error passed on with `?` keeps its code: the node fails with
/// it, which is a contract violation unless the manifest declares that code.
impl From<HostError> for Failure {
    fn from(error: HostError) -> Self {
        let message = error
            .message
            .unwrap_or_else(|| format!("a capability failed with `{}`", error.code));
        Failure::new(error.code, message)
    }
}

/// The right to build one handle: the application's capabilities, the
/// calling connector and the one capability granted. Only
/// [`Grants::handle`] makes one, and every call through it goes to that
/// capability, whatever handle holds it.
pub struct Grant {
    caps: Arc<dyn Capabilities>,
    connector: ConnectorId,
    capability: Capability,
}

impl Grant {
    fn call(&self, request: &Value) -> Result<Value, HostError> {
        dispatch(
            self.caps.as_ref(),
            self.capability,
            &self.connector,
            request,
        )
    }
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("connector", &self.connector)
            .field("capability", &self.capability)
            .finish_non_exhaustive()
    }
}

mod sealed {
    /// Only this module's handles are [`Handle`](super::Handle)s.
    pub trait Sealed {}
}

/// A typed handle for one capability: [`KvRead`], [`KvWrite`], … and no
/// others (the trait is sealed, so no other crate can add a handle that
/// would receive a [`Grant`]):
///
/// ```compile_fail
/// use lf_runtime::host::native::{Grant, Handle};
/// use lf_runtime::spec::Capability;
///
/// struct Smuggler(Grant);
///
/// impl Handle for Smuggler {
///     const CAPABILITY: Capability = Capability::KvRead;
///     fn from_grant(grant: Grant) -> Self {
///         Smuggler(grant)
///     }
/// }
/// ```
pub trait Handle: sealed::Sealed + Sized {
    /// The capability it reaches.
    const CAPABILITY: Capability;
    /// The handle, from a grant for [`Self::CAPABILITY`].
    #[doc(hidden)]
    fn from_grant(grant: Grant) -> Self;
}

/// What one call of a native node may reach: the capabilities its spec
/// declares, nothing else.
pub struct Grants<'a> {
    spec: &'a NodeSpec,
    caps: &'a Arc<dyn Capabilities>,
}

impl Grants<'_> {
    /// The handle `H`, if the spec declares its capability.
    ///
    /// # Errors
    ///
    /// [`NodeError::Native`] when the capability is not declared (generated
    /// code only asks for declared ones).
    pub fn handle<H: Handle>(&self) -> Result<H, NodeError> {
        if self.spec.capabilities.contains(&H::CAPABILITY) {
            Ok(H::from_grant(Grant {
                caps: Arc::clone(self.caps),
                connector: self.spec.id.clone(),
                capability: H::CAPABILITY,
            }))
        } else {
            Err(NodeError::Native {
                connector: self.spec.id.clone(),
                message: format!(
                    "the node asked for `{}`, which its manifest does not declare",
                    H::CAPABILITY
                ),
            })
        }
    }
}

/// A struct of handles built for each call (generated: one field per
/// declared capability).
pub trait FromGrants: Sized {
    /// Builds every handle.
    ///
    /// # Errors
    ///
    /// When a handle's capability is not declared.
    fn from_grants(grants: &Grants<'_>) -> Result<Self, NodeError>;
}

/// The handles of a node that declares no capability.
impl FromGrants for () {
    fn from_grants(_: &Grants<'_>) -> Result<Self, NodeError> {
        Ok(())
    }
}

/// A [`NativeNode`] from a typed function: decodes the checked input, builds
/// the handles `C`, runs `body`, and maps its [`Failure`] to the declared
/// error (or [`NodeError::UndeclaredErrorCode`]). The output is checked
/// against `spec` by [`NativeNode`] like a module's.
pub fn typed_node<I, C, O, F>(spec: NodeSpec, body: F) -> NativeNode
where
    I: DeserializeOwned,
    C: FromGrants,
    O: Serialize,
    F: Fn(I, &C) -> Result<O, Failure> + Send + Sync + 'static,
{
    let node_spec = spec.clone();
    NativeNode::new(spec, move |input, caps| {
        let spec = &node_spec;
        let connector = || spec.id.clone();
        spec.check_inputs(&input)
            .map_err(|error| NodeError::InputMismatch {
                connector: connector(),
                error,
            })?;
        let input: I = serde_json::from_value(input).map_err(|e| NodeError::Native {
            connector: connector(),
            message: format!("the checked input could not be decoded: {e}"),
        })?;
        let handles = C::from_grants(&Grants { spec, caps })?;
        match body(input, &handles) {
            Ok(output) => serde_json::to_value(output).map_err(|e| NodeError::Native {
                connector: connector(),
                message: format!("the output could not be serialised: {e}"),
            }),
            Err(failure) => Err(match spec.error(&failure.code) {
                Some(declared) => NodeError::Connector {
                    connector: connector(),
                    code: failure.code,
                    message: failure.message,
                    retryable: declared.retryable,
                },
                None => NodeError::UndeclaredErrorCode {
                    connector: connector(),
                    code: failure.code,
                    message: failure.message,
                },
            }),
        }
    })
}

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident, $capability:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            grant: Grant,
        }

        impl sealed::Sealed for $name {}

        impl Handle for $name {
            const CAPABILITY: Capability = Capability::$capability;
            fn from_grant(grant: Grant) -> Self {
                $name { grant }
            }
        }
    };
}

handle!(
    /// `kv.read`: reads the application's key-value store.
    KvRead,
    KvRead
);
handle!(
    /// `kv.write`: writes the application's key-value store.
    KvWrite,
    KvWrite
);
handle!(
    /// `http.read`: HTTP requests without side effects.
    HttpRead,
    HttpRead
);
handle!(
    /// `http.write`: HTTP requests with side effects.
    HttpWrite,
    HttpWrite
);
handle!(
    /// `db.read`: database queries.
    DbRead,
    DbRead
);
handle!(
    /// `db.write`: database modifications.
    DbWrite,
    DbWrite
);
handle!(
    /// `clock`: the wall clock.
    Clock,
    Clock
);
handle!(
    /// `random`: random bytes.
    Random,
    Random
);
handle!(
    /// `log`: log lines.
    Log,
    Log
);

/// A reply that is not the documented shape.
fn bad_reply(capability: Capability, reply: &Value) -> HostError {
    HostError::new(
        "bad_host_reply",
        format!("`{capability}` replied {reply}, which is not the documented reply"),
    )
}

impl KvRead {
    /// The value stored under `key`, or `None`.
    ///
    /// # Errors
    ///
    /// What the application's store reports, or `bad_host_reply` when its
    /// reply is not `{"value": string | null}`.
    pub fn get(&self, key: &str) -> Result<Option<String>, HostError> {
        let reply = self.grant.call(&json!({ "key": key }))?;
        match reply.get("value") {
            Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            _ => Err(bad_reply(Capability::KvRead, &reply)),
        }
    }
}

impl KvWrite {
    /// Stores `value` under `key`.
    ///
    /// # Errors
    ///
    /// What the application's store reports.
    pub fn set(&self, key: &str, value: &str) -> Result<(), HostError> {
        self.grant
            .call(&json!({ "key": key, "value": value }))
            .map(drop)
    }

    /// Removes `key`.
    ///
    /// # Errors
    ///
    /// What the application's store reports.
    pub fn delete(&self, key: &str) -> Result<(), HostError> {
        self.grant
            .call(&json!({ "op": "delete", "key": key }))
            .map(drop)
    }
}

impl HttpRead {
    /// Sends `request` (`{"method": "GET", "url": ...}`) and returns the
    /// application's reply (`{"status", "body", ...}`).
    ///
    /// # Errors
    ///
    /// What the application reports.
    pub fn request(&self, request: &Value) -> Result<Value, HostError> {
        self.grant.call(request)
    }
}

impl HttpWrite {
    /// Sends `request`, which may have side effects.
    ///
    /// # Errors
    ///
    /// What the application reports.
    pub fn request(&self, request: &Value) -> Result<Value, HostError> {
        self.grant.call(request)
    }
}

impl DbRead {
    /// Runs a query (a document the application defines).
    ///
    /// # Errors
    ///
    /// What the application reports.
    pub fn query(&self, request: &Value) -> Result<Value, HostError> {
        self.grant.call(request)
    }
}

impl DbWrite {
    /// Runs a modification (a document the application defines).
    ///
    /// # Errors
    ///
    /// What the application reports.
    pub fn execute(&self, request: &Value) -> Result<Value, HostError> {
        self.grant.call(request)
    }
}

impl Clock {
    /// The application's clock reading (for example `{"unix_ms": ...}`).
    ///
    /// # Errors
    ///
    /// What the application reports.
    pub fn now(&self) -> Result<Value, HostError> {
        self.grant.call(&json!({}))
    }
}

impl Random {
    /// `len` random bytes, as the application encodes them.
    ///
    /// # Errors
    ///
    /// What the application reports.
    pub fn bytes(&self, len: u32) -> Result<Value, HostError> {
        self.grant.call(&json!({ "bytes": len }))
    }
}

impl Log {
    /// Logs `message` at `level` (`debug`, `info`, `warn`, `error`).
    ///
    /// # Errors
    ///
    /// What the application reports.
    pub fn log(&self, level: &str, message: &str) -> Result<(), HostError> {
        self.grant
            .call(&json!({ "level": level, "message": message }))
            .map(drop)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;
    use crate::host::{Node, NodeRegistry};
    use crate::spec::ConnectorManifest;

    const YAML: &str = "\
id: connector.acme.kv.tally
inputs:
  - name: key
    type: string
outputs:
  - name: count
    type: int
effects: [kv.write]
deterministic: false
capabilities: [kv.read, kv.write]
errors:
  - code: busy
    retryable: true
";

    #[derive(serde::Deserialize)]
    struct In {
        key: String,
    }

    #[derive(serde::Serialize)]
    struct Out {
        count: i64,
    }

    struct Caps {
        read: KvRead,
        write: KvWrite,
    }

    impl FromGrants for Caps {
        fn from_grants(grants: &Grants<'_>) -> Result<Self, NodeError> {
            Ok(Caps {
                read: grants.handle()?,
                write: grants.handle()?,
            })
        }
    }

    #[derive(Default)]
    struct Store(Mutex<BTreeMap<String, String>>);

    impl Capabilities for Store {
        fn kv_read(&self, connector: &ConnectorId, request: &Value) -> crate::host::HostResult {
            assert_eq!(connector.as_str(), "connector.acme.kv.tally");
            let key = request["key"].as_str().unwrap();
            Ok(json!({"value": self.0.lock().unwrap().get(key)}))
        }
        fn kv_write(&self, _: &ConnectorId, request: &Value) -> crate::host::HostResult {
            let key = request["key"].as_str().unwrap().to_owned();
            let value = request["value"].as_str().unwrap().to_owned();
            self.0.lock().unwrap().insert(key, value);
            Ok(json!({}))
        }
    }

    fn spec(yaml: &str) -> NodeSpec {
        NodeSpec::from_manifest(&ConnectorManifest::from_yaml(yaml).unwrap(), NATIVE_DIGEST)
    }

    fn tally(key: &str, caps: &Caps) -> Result<Out, Failure> {
        if key == "boom" {
            return Err(Failure::new("exploded", "not declared"));
        }
        if key == "wait" {
            return Err(Failure::new("busy", "try later"));
        }
        let n: i64 = caps.read.get(key)?.map_or(0, |v| v.parse().unwrap());
        caps.write.set(key, &(n + 1).to_string())?;
        Ok(Out { count: n + 1 })
    }

    #[test]
    fn counts_through_handles_and_maps_errors() {
        let node = typed_node(spec(YAML), |input: In, caps: &Caps| tally(&input.key, caps));
        let mut registry = NodeRegistry::new();
        registry.register(node).unwrap();
        let caps: Arc<dyn Capabilities> = Arc::new(Store::default());
        let id = "connector.acme.kv.tally";
        for expected in 1..=2 {
            let out = registry.invoke(id, json!({"key": "k"}), &caps).unwrap();
            assert_eq!(out, json!({"count": expected}));
        }
        let node = registry.require(id).unwrap();
        match node.invoke(json!({"key": "wait"}), &caps).unwrap_err() {
            NodeError::Connector {
                code, retryable, ..
            } => assert_eq!((code.as_str(), retryable), ("busy", true)),
            other => panic!("{other}"),
        }
        assert!(matches!(
            node.invoke(json!({"key": "boom"}), &caps).unwrap_err(),
            NodeError::UndeclaredErrorCode { code, .. } if code == "exploded"
        ));
        assert!(matches!(
            node.invoke(json!({"key": 3}), &caps).unwrap_err(),
            NodeError::InputMismatch { .. }
        ));
        // The application offers no KV: the capability's error is the node's,
        // and `unsupported` is not declared.
        let none: Arc<dyn Capabilities> = Arc::new(crate::host::NoCapabilities);
        assert!(matches!(
            node.invoke(json!({"key": "k"}), &none).unwrap_err(),
            NodeError::UndeclaredErrorCode { code, .. } if code == "unsupported"
        ));
    }

    #[test]
    fn outputs_are_checked_against_the_spec() {
        #[derive(serde::Serialize)]
        struct Wrong {
            count: String,
        }
        let node = typed_node(spec(YAML), |_: In, _: &()| {
            Ok(Wrong {
                count: "one".into(),
            })
        });
        let caps: Arc<dyn Capabilities> = Arc::new(Store::default());
        assert!(matches!(
            node.invoke(json!({"key": "k"}), &caps).unwrap_err(),
            NodeError::OutputMismatch { .. }
        ));
    }

    #[test]
    fn an_undeclared_handle_is_refused() {
        let pure = YAML.replace("effects: [kv.write]", "effects: []").replace(
            "capabilities: [kv.read, kv.write]",
            "capabilities: [kv.read]",
        );
        let node = typed_node(spec(&pure), |input: In, caps: &Caps| {
            tally(&input.key, caps)
        });
        let caps: Arc<dyn Capabilities> = Arc::new(Store::default());
        let err = node.invoke(json!({"key": "k"}), &caps).unwrap_err();
        assert!(
            err.to_string()
                .contains("`kv.write`, which its manifest does not declare"),
            "{err}"
        );
    }
}
