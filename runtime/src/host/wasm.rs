//! [`WasmNode`]: a connector module under ABI v1, compiled once and
//! instantiated afresh for every call.
//!
//! A fresh instance per call (through a prepared [`InstancePre`]) means no
//! state leaks between calls and a call that traps leaves nothing behind.
//! Only the capabilities in the node's spec are linked; the spec's
//! capabilities are what the lock recorded, a subset of the project's grants,
//! so a module importing anything else cannot be instantiated at all.
//!
//! Everything a module hands back — pointers, lengths, bytes, JSON — is
//! untrusted: it is bounds-checked, size-limited, parsed and checked against
//! the manifest before a caller sees it. Guest misbehaviour becomes a
//! [`NodeError`]; nothing here panics on it.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use wasmtime::{
    Caller, Config, Engine, Extern, ExternType, FuncType, Instance, InstancePre, Linker, Memory,
    Module, ModuleExport, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, Trap,
};

use super::capabilities::dispatch;
use super::digest::{DigestCheck, check_sha256};
use super::node::{check_input_object, check_output};
use super::{Capabilities, Node, NodeError};
use crate::spec::{Capability, ConnectorId, NodeSpec};

/// The ABI version this host speaks.
pub const ABI_VERSION: i32 = 1;

/// Per-call resource limits of a [`WasmNode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel per call (roughly, WebAssembly instructions). A call that uses it
    /// up fails with [`NodeError::OutOfFuel`].
    pub fuel: u64,
    /// The most linear memory an instance may have, in bytes.
    pub memory_bytes: usize,
    /// The longest output `lf_invoke` may return, in bytes.
    pub max_output_bytes: usize,
    /// The longest request a module may send to a host function, in bytes.
    pub max_request_bytes: usize,
}

impl Default for Limits {
    /// 100 million units of fuel (well under a second), 64 MiB of memory,
    /// 16 MiB per output and per host request.
    fn default() -> Self {
        Limits {
            fuel: 100_000_000,
            memory_bytes: 64 << 20,
            max_output_bytes: 16 << 20,
            max_request_bytes: 16 << 20,
        }
    }
}

/// The engine every node shares: one compilation cache, one configuration
/// (fuel metering on).
fn engine() -> Result<&'static Engine, String> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = Config::new();
            config.consume_fuel(true);
            Engine::new(&config).map_err(|e| format!("{e:#}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A connector module ready to be called.
pub struct WasmNode {
    spec: Arc<NodeSpec>,
    pre: InstancePre<CallState>,
    exports: Exports,
    limits: Limits,
}

/// The ABI exports, resolved once per module.
struct Exports {
    memory: ModuleExport,
    abi_version: ModuleExport,
    alloc: ModuleExport,
    invoke: ModuleExport,
}

impl fmt::Debug for WasmNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WasmNode")
            .field("id", &self.spec.id)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl WasmNode {
    /// Compiles `bytes` (a module binary) for `spec`, linking only the
    /// capabilities the spec lists. Fails if the module does not compile,
    /// imports anything else, or lacks an ABI v1 export.
    pub fn new(bytes: &[u8], spec: NodeSpec) -> Result<Self, NodeError> {
        let connector = || spec.id.clone();
        let engine = engine().map_err(|message| NodeError::Engine {
            connector: connector(),
            message,
        })?;
        let module = Module::new(engine, bytes).map_err(|e| NodeError::Compile {
            connector: connector(),
            message: format!("{e:#}"),
        })?;
        check_imports(&module, &spec)?;
        let exports = resolve_exports(&module, &spec.id)?;

        let mut linker: Linker<CallState> = Linker::new(engine);
        for &capability in &spec.capabilities {
            linker
                .func_wrap(
                    Capability::IMPORT_MODULE,
                    capability.host_function(),
                    move |mut caller: Caller<'_, CallState>, ptr: i32, len: i32| {
                        host_call(&mut caller, capability, ptr, len)
                    },
                )
                .map_err(|e| NodeError::Instantiate {
                    connector: connector(),
                    message: format!("{e:#}"),
                })?;
        }
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| NodeError::Instantiate {
                connector: connector(),
                message: format!("{e:#}"),
            })?;
        Ok(WasmNode {
            spec: Arc::new(spec),
            pre,
            exports,
            limits: Limits::default(),
        })
    }

    /// Like [`WasmNode::new`] for bytes embedded in the binary, but first
    /// checks that they hash to the locked digest (`<hex>` or `sha256:<hex>`).
    /// A mismatch — a tampered vendor directory — is refused before anything
    /// is compiled or instantiated.
    pub fn from_locked(
        bytes: &'static [u8],
        expected_sha256_hex: &str,
        spec: NodeSpec,
    ) -> Result<Self, NodeError> {
        match check_sha256(bytes, expected_sha256_hex) {
            DigestCheck::Match => WasmNode::new(bytes, spec),
            DigestCheck::Invalid => Err(NodeError::InvalidDigest {
                connector: spec.id,
                digest: expected_sha256_hex.to_owned(),
            }),
            DigestCheck::Mismatch { expected, actual } => Err(NodeError::DigestMismatch {
                connector: spec.id,
                expected,
                actual,
            }),
        }
    }

    /// The same node with other per-call limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The per-call limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// One call: instantiate, check the ABI version, pass the input, read,
    /// parse and check the output.
    fn call(&self, input: &Value, caps: &Arc<dyn Capabilities>) -> Result<Value, NodeError> {
        let invocation = invocation(input);
        let mut store = Store::new(
            self.pre.module().engine(),
            CallState {
                caps: Arc::clone(caps),
                spec: Arc::clone(&self.spec),
                limits: StoreLimitsBuilder::new()
                    .memory_size(self.limits.memory_bytes)
                    .instances(1)
                    .memories(1)
                    .tables(4)
                    .build(),
                memory_cap: self.limits.memory_bytes,
                memory_requested: None,
                max_request: self.limits.max_request_bytes,
            },
        );
        store.limiter(|state| state);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| self.fault(&store, &e))?;

        let instance =
            self.pre
                .instantiate(&mut store)
                .map_err(|e| match self.classify(&store, &e) {
                    NodeError::Trap { connector, message } => {
                        NodeError::Instantiate { connector, message }
                    }
                    other => other,
                })?;
        let abi = self.exports(&mut store, instance)?;

        let version = abi
            .abi_version
            .call(&mut store, ())
            .map_err(|e| self.classify(&store, &e))?;
        if version != ABI_VERSION {
            return Err(NodeError::AbiVersion {
                connector: self.spec.id.clone(),
                found: version,
            });
        }

        let len = u32::try_from(invocation.len()).map_err(|_| NodeError::InputEncode {
            connector: self.spec.id.clone(),
            message: format!("the input is {} bytes, over 4 GiB", invocation.len()),
        })?;
        let ptr = abi
            .alloc
            .call(&mut store, len.cast_signed())
            .map_err(|e| self.classify(&store, &e))?;
        let range = guest_range(ptr.cast_unsigned(), len, abi.memory.data_size(&store)).ok_or(
            NodeError::PointerOutOfBounds {
                connector: self.spec.id.clone(),
                what: "the input buffer from lf_alloc",
                ptr: u64::from(ptr.cast_unsigned()),
                len: u64::from(len),
                memory: abi.memory.data_size(&store),
            },
        )?;
        abi.memory.data_mut(&mut store)[range].copy_from_slice(&invocation);

        let packed = abi
            .invoke
            .call(&mut store, (ptr, len.cast_signed()))
            .map_err(|e| self.classify(&store, &e))?
            .cast_unsigned();
        let (out_ptr, out_len) = ((packed >> 32) as u32, packed as u32);
        if out_len as usize > self.limits.max_output_bytes {
            return Err(NodeError::OutputTooLarge {
                connector: self.spec.id.clone(),
                len: u64::from(out_len),
                limit: self.limits.max_output_bytes,
            });
        }
        let memory_size = abi.memory.data_size(&store);
        let range =
            guest_range(out_ptr, out_len, memory_size).ok_or(NodeError::PointerOutOfBounds {
                connector: self.spec.id.clone(),
                what: "the output of lf_invoke",
                ptr: u64::from(out_ptr),
                len: u64::from(out_len),
                memory: memory_size,
            })?;
        let output = &abi.memory.data(&store)[range];
        self.parse_output(output)
    }

    /// The ABI exports of `instance`.
    fn exports(
        &self,
        store: &mut Store<CallState>,
        instance: Instance,
    ) -> Result<AbiFuncs, NodeError> {
        let connector = &self.spec.id;
        let missing = |export: &'static str| NodeError::MissingExport {
            connector: connector.clone(),
            export,
            problem: "is missing".to_owned(),
        };
        let func = |store: &mut Store<CallState>, export: &ModuleExport, name: &'static str| {
            instance
                .get_module_export(&mut *store, export)
                .and_then(Extern::into_func)
                .ok_or_else(|| missing(name))
        };
        let typed_err = |name: &'static str| {
            move |e: wasmtime::Error| NodeError::MissingExport {
                connector: connector.clone(),
                export: name,
                problem: format!("has the wrong type: {e}"),
            }
        };
        let memory = instance
            .get_module_export(&mut *store, &self.exports.memory)
            .and_then(Extern::into_memory)
            .ok_or_else(|| missing("memory"))?;
        let abi_version = func(store, &self.exports.abi_version, "lf_abi_version")?
            .typed::<(), i32>(&*store)
            .map_err(typed_err("lf_abi_version"))?;
        let alloc = func(store, &self.exports.alloc, "lf_alloc")?
            .typed::<i32, i32>(&*store)
            .map_err(typed_err("lf_alloc"))?;
        let invoke = func(store, &self.exports.invoke, "lf_invoke")?
            .typed::<(i32, i32), i64>(&*store)
            .map_err(typed_err("lf_invoke"))?;
        Ok(AbiFuncs {
            memory,
            abi_version,
            alloc,
            invoke,
        })
    }

    /// `{"ok": {...}}` → the checked outputs; `{"error": ...}` →
    /// [`NodeError::Connector`]; anything else → an ABI error.
    fn parse_output(&self, bytes: &[u8]) -> Result<Value, NodeError> {
        let connector = || self.spec.id.clone();
        let text = std::str::from_utf8(bytes).map_err(|e| NodeError::OutputNotUtf8 {
            connector: connector(),
            message: e.to_string(),
        })?;
        let document: Value = serde_json::from_str(text).map_err(|e| NodeError::OutputNotJson {
            connector: connector(),
            message: e.to_string(),
        })?;
        let malformed = |reason: &str| NodeError::MalformedOutput {
            connector: connector(),
            reason: reason.to_owned(),
        };
        let Value::Object(mut envelope) = document else {
            return Err(malformed("expected an object"));
        };
        if envelope.len() != 1 {
            return Err(malformed(
                "expected exactly one key, `ok` or `error`, at the top level",
            ));
        }
        if let Some(ok) = envelope.remove("ok") {
            if !ok.is_object() {
                return Err(malformed("`ok` must be an object of output fields"));
            }
            check_output(&self.spec, &ok)?;
            return Ok(ok);
        }
        let Some(Value::Object(error)) = envelope.remove("error") else {
            return Err(malformed(
                "expected `{\"ok\": {...}}` or `{\"error\": {...}}`",
            ));
        };
        match (
            error.get("code").and_then(Value::as_str),
            error.get("message").and_then(Value::as_str),
            error.get("retryable").and_then(Value::as_bool),
        ) {
            (Some(code), Some(message), Some(retryable)) if error.len() == 3 => {
                Err(NodeError::Connector {
                    connector: connector(),
                    code: code.to_owned(),
                    message: message.to_owned(),
                    retryable,
                })
            }
            _ => Err(malformed(
                "`error` must be exactly {\"code\": string, \"message\": string, \"retryable\": bool}",
            )),
        }
    }

    /// A wasmtime error from a call, as a [`NodeError`].
    fn classify(&self, store: &Store<CallState>, error: &wasmtime::Error) -> NodeError {
        let connector = self.spec.id.clone();
        if let Some(fault) = error.downcast_ref::<Fault>() {
            return fault.to_node_error(connector);
        }
        if let Some(requested) = store.data().memory_requested {
            return NodeError::MemoryLimit {
                connector,
                requested,
                limit: self.limits.memory_bytes,
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => NodeError::OutOfFuel {
                connector,
                fuel: self.limits.fuel,
            },
            Some(trap) => NodeError::Trap {
                connector,
                message: trap.to_string(),
            },
            None => NodeError::Trap {
                connector,
                message: format!("{error:#}"),
            },
        }
    }

    /// A wasmtime error outside a guest call.
    fn fault(&self, store: &Store<CallState>, error: &wasmtime::Error) -> NodeError {
        match self.classify(store, error) {
            NodeError::Trap { connector, message } => NodeError::Instantiate { connector, message },
            other => other,
        }
    }
}

impl Node for WasmNode {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    fn invoke(&self, input: Value, caps: &Arc<dyn Capabilities>) -> Result<Value, NodeError> {
        check_input_object(&self.spec, &input)?;
        self.call(&input, caps)
    }
}

/// `{"inputs": <input>}`, compact.
fn invocation(input: &Value) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(64);
    bytes.extend_from_slice(br#"{"inputs":"#);
    // Writing a `Value` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut bytes, input);
    bytes.push(b'}');
    bytes
}

/// The typed ABI functions of one instance.
struct AbiFuncs {
    memory: Memory,
    abi_version: wasmtime::TypedFunc<(), i32>,
    alloc: wasmtime::TypedFunc<i32, i32>,
    invoke: wasmtime::TypedFunc<(i32, i32), i64>,
}

/// `ptr..ptr+len` if it lies within a memory of `size` bytes.
fn guest_range(ptr: u32, len: u32, size: usize) -> Option<Range<usize>> {
    let start = usize::try_from(ptr).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    (end <= size).then_some(start..end)
}

fn signature(ty: &FuncType) -> String {
    let params: Vec<String> = ty.params().map(|t| t.to_string()).collect();
    let results: Vec<String> = ty.results().map(|t| t.to_string()).collect();
    format!("func ({}) -> ({})", params.join(", "), results.join(", "))
}

fn describe(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => signature(f),
        ExternType::Memory(_) => "a memory".to_owned(),
        ExternType::Table(_) => "a table".to_owned(),
        ExternType::Global(_) => "a global".to_owned(),
        ExternType::Tag(_) => "a tag".to_owned(),
    }
}

/// Every import must be a granted `lf:cap` function of the ABI type.
fn check_imports(module: &Module, spec: &NodeSpec) -> Result<(), NodeError> {
    for import in module.imports() {
        let granted = import.module() == Capability::IMPORT_MODULE
            && Capability::from_host_function(import.name())
                .is_some_and(|c| spec.capabilities.contains(&c));
        if !granted {
            return Err(NodeError::ImportNotGranted {
                connector: spec.id.clone(),
                module: import.module().to_owned(),
                name: import.name().to_owned(),
                granted: spec.capabilities.clone(),
            });
        }
        let ty = import.ty();
        let found = describe(&ty);
        if found != "func (i32, i32) -> (i64)" {
            return Err(NodeError::ImportSignature {
                connector: spec.id.clone(),
                name: import.name().to_owned(),
                found,
            });
        }
    }
    Ok(())
}

/// The four ABI v1 exports, with their types checked.
fn resolve_exports(module: &Module, connector: &ConnectorId) -> Result<Exports, NodeError> {
    let resolve = |export: &'static str, want: &str| {
        let problem = match module.get_export(export) {
            None => "is missing".to_owned(),
            Some(ty) => {
                let found = describe(&ty);
                if found == want {
                    return module.get_export_index(export).ok_or_else(|| {
                        NodeError::MissingExport {
                            connector: connector.clone(),
                            export,
                            problem: "is missing".to_owned(),
                        }
                    });
                }
                format!("is {found}; ABI v1 wants {want}")
            }
        };
        Err(NodeError::MissingExport {
            connector: connector.clone(),
            export,
            problem,
        })
    };
    Ok(Exports {
        memory: resolve("memory", "a memory")?,
        abi_version: resolve("lf_abi_version", "func () -> (i32)")?,
        alloc: resolve("lf_alloc", "func (i32) -> (i32)")?,
        invoke: resolve("lf_invoke", "func (i32, i32) -> (i64)")?,
    })
}

/// The store's data for one call.
struct CallState {
    caps: Arc<dyn Capabilities>,
    spec: Arc<NodeSpec>,
    limits: StoreLimits,
    memory_cap: usize,
    /// Set when the module asked for more memory than the cap.
    memory_requested: Option<usize>,
    max_request: usize,
}

impl ResourceLimiter for CallState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_requested = Some(desired);
            return Err(wasmtime::Error::new(Fault::MemoryLimit {
                requested: desired,
                limit: self.memory_cap,
            }));
        }
        self.limits.memory_growing(current, desired, maximum)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// A guest fault detected inside a host function or the limiter; it unwinds
/// the guest as a trap and is turned into a [`NodeError`] afterwards.
#[derive(Debug, thiserror::Error)]
enum Fault {
    #[error("memory limit: {requested} bytes requested, cap {limit}")]
    MemoryLimit { requested: usize, limit: usize },
    #[error("{what} at {ptr}+{len} is outside memory ({memory} bytes)")]
    OutOfBounds {
        what: &'static str,
        ptr: u64,
        len: u64,
        memory: usize,
    },
    #[error("host request to {capability} is over {limit} bytes ({len})")]
    RequestTooLarge {
        capability: Capability,
        len: u64,
        limit: usize,
    },
    #[error("host request to {capability} is not JSON: {message}")]
    BadRequest {
        capability: Capability,
        message: String,
    },
    #[error("the module has no usable `{0}` export")]
    Export(&'static str),
}

impl Fault {
    fn to_node_error(&self, connector: ConnectorId) -> NodeError {
        match *self {
            Fault::MemoryLimit { requested, limit } => NodeError::MemoryLimit {
                connector,
                requested,
                limit,
            },
            Fault::OutOfBounds {
                what,
                ptr,
                len,
                memory,
            } => NodeError::PointerOutOfBounds {
                connector,
                what,
                ptr,
                len,
                memory,
            },
            Fault::RequestTooLarge {
                capability,
                len,
                limit,
            } => NodeError::BadHostRequest {
                connector,
                capability,
                message: format!("the request is {len} bytes; the limit is {limit}"),
            },
            Fault::BadRequest {
                capability,
                ref message,
            } => NodeError::BadHostRequest {
                connector,
                capability,
                message: message.clone(),
            },
            Fault::Export(export) => NodeError::MissingExport {
                connector,
                export,
                problem: "is missing or mistyped".to_owned(),
            },
        }
    }
}

/// A capability host function: read the request at (ptr, len), ask the
/// application, place the reply through `lf_alloc`, return it packed.
fn host_call(
    caller: &mut Caller<'_, CallState>,
    capability: Capability,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<i64> {
    let memory = caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or(Fault::Export("memory"))?;
    let (ptr, len) = (ptr.cast_unsigned(), len.cast_unsigned());
    if len as usize > caller.data().max_request {
        return Err(wasmtime::Error::new(Fault::RequestTooLarge {
            capability,
            len: u64::from(len),
            limit: caller.data().max_request,
        }));
    }
    let size = memory.data_size(&*caller);
    let range = guest_range(ptr, len, size).ok_or(Fault::OutOfBounds {
        what: "a host request",
        ptr: u64::from(ptr),
        len: u64::from(len),
        memory: size,
    })?;
    let request: Value =
        serde_json::from_slice(&memory.data(&*caller)[range]).map_err(|e| Fault::BadRequest {
            capability,
            message: e.to_string(),
        })?;

    let state = caller.data();
    let reply = match dispatch(&*state.caps, capability, &state.spec.id, &request) {
        Ok(value) => serde_json::json!({ "ok": value }),
        Err(error) => serde_json::json!({ "error": error }),
    };
    let reply = serde_json::to_vec(&reply)?;
    let reply_len = u32::try_from(reply.len())?;

    let alloc = caller
        .get_export("lf_alloc")
        .and_then(Extern::into_func)
        .ok_or(Fault::Export("lf_alloc"))?
        .typed::<i32, i32>(&*caller)
        .map_err(|_| Fault::Export("lf_alloc"))?;
    let reply_ptr = alloc
        .call(&mut *caller, reply_len.cast_signed())?
        .cast_unsigned();
    let size = memory.data_size(&*caller);
    let range = guest_range(reply_ptr, reply_len, size).ok_or(Fault::OutOfBounds {
        what: "a host reply buffer from lf_alloc",
        ptr: u64::from(reply_ptr),
        len: u64::from(reply_len),
        memory: size,
    })?;
    memory.data_mut(&mut *caller)[range].copy_from_slice(&reply);
    Ok((i64::from(reply_ptr) << 32) | i64::from(reply_len))
}
