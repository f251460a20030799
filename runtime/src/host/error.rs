//! The host's error types: everything a node call or a registration can fail
//! with, each naming the connector, so a flow can stop cleanly and say which
//! node misbehaved.

use std::time::Duration;

use crate::spec::{Capability, ConnectorId, ValueError};

/// Why a node could not be built or a call did not produce checked outputs.
///
/// Every variant carries the connector id. Guest misbehaviour (traps, runaway
/// loops, ABI violations, outputs that break the manifest) always ends up
/// here; the host never panics on it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The shared wasmtime engine could not be created.
    #[error("{connector}: the WebAssembly engine could not be created: {message}")]
    Engine {
        /// The connector whose node asked for the engine.
        connector: ConnectorId,
        /// What wasmtime said.
        message: String,
    },
    /// The locked digest given to [`WasmNode::from_locked`](super::WasmNode::from_locked)
    /// is not a SHA-256 hex digest.
    #[error(
        "{connector}: locked digest `{digest}` is not sha256 (64 hex digits, optionally `sha256:`-prefixed)"
    )]
    InvalidDigest {
        /// The connector.
        connector: ConnectorId,
        /// The digest as given.
        digest: String,
    },
    /// The embedded module does not hash to the locked digest: the vendor
    /// directory (or the build) was tampered with. Nothing was compiled.
    #[error(
        "{connector}: module digest mismatch: locked sha256:{expected}, embedded bytes hash to sha256:{actual}; the vendored module was modified: run `lf-resolve vendor` and `lf-resolve generate` again"
    )]
    DigestMismatch {
        /// The connector.
        connector: ConnectorId,
        /// The locked digest (hex).
        expected: String,
        /// The digest of the embedded bytes (hex).
        actual: String,
    },
    /// The bytes are not a valid WebAssembly module.
    #[error("{connector}: the module does not compile: {message}")]
    Compile {
        /// The connector.
        connector: ConnectorId,
        /// What wasmtime said.
        message: String,
    },
    /// The module imports something the host does not link for it: a
    /// capability that was not granted, or anything outside `lf:cap`.
    #[error(
        "{connector}: the module imports `{module}::{name}`, which is not granted (granted: {})",
        granted_list(.granted)
    )]
    ImportNotGranted {
        /// The connector.
        connector: ConnectorId,
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
        /// What was granted.
        granted: Vec<Capability>,
    },
    /// A granted capability is imported with the wrong type.
    #[error(
        "{connector}: the module imports `lf:cap::{name}` as {found}; ABI v1 wants func (i32, i32) -> (i64)"
    )]
    ImportSignature {
        /// The connector.
        connector: ConnectorId,
        /// The host function name.
        name: String,
        /// The type the module declares.
        found: String,
    },
    /// A required ABI v1 export is missing or has the wrong type.
    #[error("{connector}: ABI v1 export `{export}` {problem}")]
    MissingExport {
        /// The connector.
        connector: ConnectorId,
        /// The export name (`memory`, `lf_abi_version`, `lf_alloc`, `lf_invoke`).
        export: &'static str,
        /// `is missing`, or what it is and what ABI v1 wants.
        problem: String,
    },
    /// `lf_abi_version` returned something other than 1.
    #[error("{connector}: the module speaks ABI version {found}; this host speaks version 1")]
    AbiVersion {
        /// The connector.
        connector: ConnectorId,
        /// What `lf_abi_version` returned.
        found: i32,
    },
    /// Instantiation failed for another reason.
    #[error("{connector}: instantiation failed: {message}")]
    Instantiate {
        /// The connector.
        connector: ConnectorId,
        /// What wasmtime said.
        message: String,
    },
    /// The module trapped.
    #[error("{connector}: the module trapped: {message}")]
    Trap {
        /// The connector.
        connector: ConnectorId,
        /// The trap message.
        message: String,
    },
    /// The call used up its fuel (a runaway loop, or a limit set too low).
    #[error(
        "{connector}: the call ran out of fuel ({fuel} units); the module loops or the limit is too low"
    )]
    OutOfFuel {
        /// The connector.
        connector: ConnectorId,
        /// The per-call fuel limit.
        fuel: u64,
    },
    /// The module tried to grow its memory past the cap.
    #[error("{connector}: the module wanted {requested} bytes of memory; the cap is {limit}")]
    MemoryLimit {
        /// The connector.
        connector: ConnectorId,
        /// The size asked for, in bytes.
        requested: usize,
        /// The cap, in bytes.
        limit: usize,
    },
    /// The module tried to grow a table (or declared one) past the cap.
    #[error("{connector}: the module wanted a table of {requested} elements; the cap is {limit}")]
    TableLimit {
        /// The connector.
        connector: ConnectorId,
        /// The table size asked for, in elements.
        requested: usize,
        /// The cap, in elements.
        limit: usize,
    },
    /// The call ran past its wall-clock deadline: fuel does not meter the
    /// time spent in host calls, the deadline does.
    #[error(
        "{connector}: the call ran past its deadline of {} ms; the module loops, waits on host calls, or the limit is too low",
        .limit.as_millis()
    )]
    Deadline {
        /// The connector.
        connector: ConnectorId,
        /// The per-call deadline.
        limit: Duration,
    },
    /// The call made more host calls than one node call may.
    #[error(
        "{connector}: the call made more than {limit} host calls (the last one to `{capability}`)"
    )]
    TooManyHostCalls {
        /// The connector.
        connector: ConnectorId,
        /// The capability of the call that went over the limit.
        capability: Capability,
        /// The most host calls per node call.
        limit: u32,
    },
    /// A request to a host function is larger than one host call accepts. It
    /// was refused before a byte of it was read.
    #[error("{connector}: the request to `{capability}` is {len} bytes; the limit is {limit}")]
    HostRequestTooLarge {
        /// The connector.
        connector: ConnectorId,
        /// The capability called.
        capability: Capability,
        /// The request length the module passed.
        len: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// The reply of a host function is larger than one host call may hand
    /// back to the module. Nothing was written into the module's memory.
    #[error("{connector}: the reply of `{capability}` is over the limit of {limit} bytes")]
    HostReplyTooLarge {
        /// The connector.
        connector: ConnectorId,
        /// The capability called.
        capability: Capability,
        /// The limit in bytes.
        limit: usize,
    },
    /// The requests and replies of all host calls of one node call together
    /// went over the per-call budget.
    #[error(
        "{connector}: the host calls of one node call exchanged more than {limit} bytes (over the limit at a call to `{capability}`)"
    )]
    HostTrafficLimit {
        /// The connector.
        connector: ConnectorId,
        /// The capability of the call that went over the limit.
        capability: Capability,
        /// The budget in bytes, requests and replies together.
        limit: usize,
    },
    /// A pointer and length handed across the ABI do not lie inside the
    /// module's memory.
    #[error(
        "{connector}: {what} at {ptr}..{ptr}+{len} lies outside the module's memory ({memory} bytes)"
    )]
    PointerOutOfBounds {
        /// The connector.
        connector: ConnectorId,
        /// Which buffer: "the output of lf_invoke", "a host request", ….
        what: &'static str,
        /// The pointer.
        ptr: u64,
        /// The length.
        len: u64,
        /// The memory size in bytes.
        memory: usize,
    },
    /// The output is larger than the host accepts.
    #[error("{connector}: the output is {len} bytes; the limit is {limit}")]
    OutputTooLarge {
        /// The connector.
        connector: ConnectorId,
        /// The output length claimed by the module.
        len: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// The output bytes are not UTF-8.
    #[error("{connector}: the output is not UTF-8: {message}")]
    OutputNotUtf8 {
        /// The connector.
        connector: ConnectorId,
        /// Where the decoding failed.
        message: String,
    },
    /// The output is not JSON.
    #[error("{connector}: the output is not JSON: {message}")]
    OutputNotJson {
        /// The connector.
        connector: ConnectorId,
        /// What the parser said.
        message: String,
    },
    /// The output is JSON but neither `{"ok": {...}}` nor
    /// `{"error": {"code", "message", "retryable"}}`.
    #[error("{connector}: the output is not an ABI v1 result: {reason}")]
    MalformedOutput {
        /// The connector.
        connector: ConnectorId,
        /// What is wrong with it.
        reason: String,
    },
    /// The module asked a host function something that is not a JSON document.
    #[error("{connector}: the request to `{capability}` is not JSON: {message}")]
    BadHostRequest {
        /// The connector.
        connector: ConnectorId,
        /// The capability called.
        capability: Capability,
        /// What the parser said.
        message: String,
    },
    /// The connector returned `{"error": ...}`: a result of the node, not a
    /// fault of the host.
    #[error("{connector}: {code}: {message}{}", if *.retryable { " (retryable)" } else { "" })]
    Connector {
        /// The connector.
        connector: ConnectorId,
        /// The error code (declared in the manifest's `errors`).
        code: String,
        /// The human-readable message.
        message: String,
        /// Whether the call may be retried.
        retryable: bool,
    },
    /// The `ok` object does not match the declared outputs (a missing, extra
    /// or mistyped field).
    #[error("{connector}: output does not match the manifest: {error}")]
    OutputMismatch {
        /// The connector.
        connector: ConnectorId,
        /// The offending field and what is wrong with it.
        error: ValueError,
    },
    /// The input is not a JSON object of fields.
    #[error("{connector}: the input must be a JSON object of fields, found {found}")]
    InputNotObject {
        /// The connector.
        connector: ConnectorId,
        /// The kind of JSON value given.
        found: String,
    },
    /// A typed input could not be turned into JSON.
    #[error("{connector}: the input could not be serialised: {message}")]
    InputEncode {
        /// The connector.
        connector: ConnectorId,
        /// What serde said.
        message: String,
    },
    /// The checked outputs could not be turned into the typed output.
    #[error("{connector}: the output could not be deserialised into the typed output: {message}")]
    OutputDecode {
        /// The connector.
        connector: ConnectorId,
        /// What serde said.
        message: String,
    },
    /// The component imports something this host does not link for it: a
    /// capability interface whose capability was not granted (`wasi:http`
    /// without `http.read`/`http.write`), or an interface outside WASI 0.2
    /// and latticeflow's own. Nothing was instantiated.
    #[error("{connector}: the component cannot be linked: {message}")]
    ComponentImport {
        /// The connector.
        connector: ConnectorId,
        /// What wasmtime's linker said (it names the import).
        message: String,
    },
    /// The component's `run` export is missing or does not have the type the
    /// connector's manifest implies (see docs/wit.md).
    #[error("{connector}: the component's `run` export {problem}; the manifest wants `{expected}`")]
    RunSignature {
        /// The connector.
        connector: ConnectorId,
        /// What is wrong: missing, or its actual type.
        problem: String,
        /// The WIT type the manifest implies.
        expected: String,
    },
    /// The component returned an output value the JSON mapping cannot carry:
    /// a `json` field whose text is not JSON, or a float that is not finite.
    #[error("{connector}: output field `{field}` {problem}")]
    OutputValue {
        /// The connector.
        connector: ConnectorId,
        /// The output field (and the position inside it).
        field: String,
        /// What is wrong with the value.
        problem: String,
    },
    /// The connector failed with an error code its manifest does not declare
    /// under `errors`: a broken contract, not a result of the node.
    #[error(
        "{connector}: the connector failed with error code `{code}`, which its manifest does not declare (message: {message})"
    )]
    UndeclaredErrorCode {
        /// The connector.
        connector: ConnectorId,
        /// The undeclared code.
        code: String,
        /// The message that came with it.
        message: String,
    },
    /// The input does not match the declared inputs (a component's input is
    /// typed, so it is checked before the call).
    #[error("{connector}: input does not match the manifest: {error}")]
    InputMismatch {
        /// The connector.
        connector: ConnectorId,
        /// The offending field and what is wrong with it.
        error: ValueError,
    },
    /// A native node failed for its own reasons.
    #[error("{connector}: {message}")]
    Native {
        /// The connector.
        connector: ConnectorId,
        /// What went wrong.
        message: String,
    },
}

fn granted_list(granted: &[Capability]) -> String {
    if granted.is_empty() {
        "none".to_owned()
    } else {
        granted
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl NodeError {
    /// The connector the error is about.
    pub fn connector(&self) -> &ConnectorId {
        match self {
            NodeError::Engine { connector, .. }
            | NodeError::InvalidDigest { connector, .. }
            | NodeError::DigestMismatch { connector, .. }
            | NodeError::Compile { connector, .. }
            | NodeError::ImportNotGranted { connector, .. }
            | NodeError::ImportSignature { connector, .. }
            | NodeError::MissingExport { connector, .. }
            | NodeError::AbiVersion { connector, .. }
            | NodeError::Instantiate { connector, .. }
            | NodeError::Trap { connector, .. }
            | NodeError::OutOfFuel { connector, .. }
            | NodeError::MemoryLimit { connector, .. }
            | NodeError::TableLimit { connector, .. }
            | NodeError::Deadline { connector, .. }
            | NodeError::TooManyHostCalls { connector, .. }
            | NodeError::HostRequestTooLarge { connector, .. }
            | NodeError::HostReplyTooLarge { connector, .. }
            | NodeError::HostTrafficLimit { connector, .. }
            | NodeError::PointerOutOfBounds { connector, .. }
            | NodeError::OutputTooLarge { connector, .. }
            | NodeError::OutputNotUtf8 { connector, .. }
            | NodeError::OutputNotJson { connector, .. }
            | NodeError::MalformedOutput { connector, .. }
            | NodeError::BadHostRequest { connector, .. }
            | NodeError::Connector { connector, .. }
            | NodeError::OutputMismatch { connector, .. }
            | NodeError::InputNotObject { connector, .. }
            | NodeError::InputEncode { connector, .. }
            | NodeError::OutputDecode { connector, .. }
            | NodeError::ComponentImport { connector, .. }
            | NodeError::RunSignature { connector, .. }
            | NodeError::OutputValue { connector, .. }
            | NodeError::UndeclaredErrorCode { connector, .. }
            | NodeError::InputMismatch { connector, .. }
            | NodeError::Native { connector, .. } => connector,
        }
    }

    /// Whether retrying the same call may succeed: only a connector error
    /// that says so. Host faults (traps, ABI violations) are not retryable.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            NodeError::Connector {
                retryable: true,
                ..
            }
        )
    }
}

/// Why a registry operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A node with this id is already registered.
    #[error("node `{id}` is already registered; each connector id may be registered once")]
    DuplicateId {
        /// The id registered twice.
        id: ConnectorId,
    },
    /// No node with this id is registered.
    #[error("no node `{id}` is registered")]
    UnknownId {
        /// The id looked up.
        id: String,
    },
    /// Building the node failed (digest check, compilation, imports, exports).
    #[error(transparent)]
    Node(#[from] NodeError),
}
