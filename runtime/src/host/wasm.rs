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
//!
//! # The budget of one call
//!
//! Every call runs under a [`Limits`], and every limit has its own error, so
//! a caller can tell a runaway loop from a slow capability from a greedy
//! module:
//!
//! - **Fuel** counts WebAssembly instructions. It is deterministic, but it
//!   does not see time spent *outside* the guest: a module that calls `log`
//!   in a loop burns little fuel per iteration while the host does the work.
//! - **The wall-clock deadline** closes that gap. The engine runs with epoch
//!   interruption; one background thread per process (started by the first
//!   call) advances the epoch every [`EPOCH_TICK`], and each call's store
//!   traps once its deadline in ticks has passed. Guest code checks the
//!   epoch at loop heads and function entries — and every host call enters
//!   the guest's `lf_alloc` to place its reply — so even straight-line code
//!   calling a slow capability stops at the first call that returns past
//!   the deadline. The thread is shared, so a call costs no thread of its
//!   own; a capability that blocks is only noticed when it returns.
//! - **Host calls** are counted per node call, and each request is checked
//!   against its size limit *before* a byte of it is read or parsed. Each
//!   reply is serialised into a bounded buffer, so an oversized reply is
//!   refused without being finished or written into the module. Requests and
//!   replies together also draw from one per-call byte budget.
//! - **Memory and tables** are capped by the store's resource limiter; growing
//!   past a cap traps with [`NodeError::MemoryLimit`] or
//!   [`NodeError::TableLimit`] instead of handing the module host memory until
//!   something else gives out.

use std::fmt;
use std::io;
use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::{
    Caller, Config, Engine, Extern, ExternType, FuncType, Instance, InstancePre, Linker, Memory,
    Module, ModuleExport, Store, Trap,
};

use super::budget::{Budget, Fault};
use super::capabilities::dispatch;
use super::digest::check_locked;
use super::node::{check_input_object, check_output};
use super::{Capabilities, Node, NodeError};
use crate::spec::{Capability, ConnectorId, NodeSpec};

/// The ABI version this host speaks.
pub const ABI_VERSION: i32 = 1;

/// Per-call resource limits of a [`WasmNode`]; see the module docs for how
/// they work together. Build one from [`Limits::default`] and change the
/// fields you need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel per call (roughly, WebAssembly instructions). A call that uses it
    /// up fails with [`NodeError::OutOfFuel`].
    pub fuel: u64,
    /// The wall-clock time one call may take, host calls included. A call
    /// past it fails with [`NodeError::Deadline`]. Enforced in steps of
    /// [`EPOCH_TICK`]: never early, but a call may overrun it by a tick or
    /// two (more on a starved machine, or while a blocking capability has
    /// not returned).
    pub deadline: Duration,
    /// The most linear memory an instance may have, in bytes
    /// ([`NodeError::MemoryLimit`]).
    pub memory_bytes: usize,
    /// The most elements any one table may have ([`NodeError::TableLimit`]).
    pub table_elements: usize,
    /// The longest output `lf_invoke` may return, in bytes.
    pub max_output_bytes: usize,
    /// The most host calls one call may make ([`NodeError::TooManyHostCalls`]).
    pub max_host_calls: u32,
    /// The longest request a module may send to one host call, in bytes
    /// ([`NodeError::HostRequestTooLarge`]).
    pub max_request_bytes: usize,
    /// The longest reply one host call may write back, in bytes
    /// ([`NodeError::HostReplyTooLarge`]).
    pub max_reply_bytes: usize,
    /// The most bytes all host calls of one call may move, requests and
    /// replies together ([`NodeError::HostTrafficLimit`]).
    pub max_host_bytes: usize,
    /// For components' `wasi:http` requests: the longest the built-in client
    /// waits to connect, for the first byte of the response, and between two
    /// bytes of it. Waiting for the network blocks the calling thread and is
    /// not cut short by [`Limits::deadline`], so keep it well under the
    /// deadline.
    pub http_timeout: Duration,
}

impl Default for Limits {
    /// 100 million units of fuel (well under a second of guest code), a
    /// 10-second deadline, 64 MiB of memory, 100 000 elements per table,
    /// 16 MiB of output, 10 000 host calls, 4 MiB per host request, 16 MiB
    /// per host reply, 64 MiB of host traffic in all and 10-second HTTP
    /// timeouts.
    fn default() -> Self {
        Limits {
            fuel: 100_000_000,
            deadline: Duration::from_secs(10),
            memory_bytes: 64 << 20,
            table_elements: 100_000,
            max_output_bytes: 16 << 20,
            max_host_calls: 10_000,
            max_request_bytes: 4 << 20,
            max_reply_bytes: 16 << 20,
            max_host_bytes: 64 << 20,
            http_timeout: Duration::from_secs(10),
        }
    }
}

/// How often the shared ticker thread advances the engine's epoch: the
/// granularity of [`Limits::deadline`].
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The engine every node shares, modules and components alike: one
/// configuration (fuel metering and epoch interruption on), so compiled
/// components cached on disk stay valid for every node of the process.
pub(crate) fn engine() -> Result<&'static Engine, String> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = Config::new();
            config.consume_fuel(true);
            config.epoch_interruption(true);
            Engine::new(&config).map_err(|e| format!("{e:#}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Starts, on the first call, the one thread that advances `engine`'s epoch
/// every [`EPOCH_TICK`] for as long as the process lives. Later calls only
/// read the outcome of that first start.
///
/// Ticks are scheduled on a fixed grid rather than after each sleep, so
/// oversleeping on a busy machine does not add up and push every deadline
/// late. A tick never comes before its slot on the grid, and when the thread
/// falls more than a tick behind it starts a new grid instead of catching up
/// in a burst, which would end running calls early.
pub(crate) fn start_ticker(engine: &'static Engine) -> Result<(), String> {
    static TICKER: OnceLock<Result<(), String>> = OnceLock::new();
    TICKER
        .get_or_init(|| {
            std::thread::Builder::new()
                .name("lf-runtime-epoch".to_owned())
                .spawn(move || {
                    let mut next = Instant::now();
                    loop {
                        next += EPOCH_TICK;
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        } else if now - next > EPOCH_TICK {
                            next = now;
                        }
                        engine.increment_epoch();
                    }
                })
                .map(drop)
                .map_err(|e| format!("the epoch ticker thread could not start: {e}"))
        })
        .clone()
}

/// [`engine`], or the error that says why there is none, naming `connector`.
pub(crate) fn node_engine(connector: &ConnectorId) -> Result<&'static Engine, NodeError> {
    engine().map_err(|message| NodeError::Engine {
        connector: connector.clone(),
        message,
    })
}

/// [`node_engine`] with the epoch ticker running (see [`start_ticker`]): what
/// a call needs before its deadline can be enforced.
pub(crate) fn ticking_engine(connector: &ConnectorId) -> Result<&'static Engine, NodeError> {
    let engine = node_engine(connector)?;
    start_ticker(engine).map_err(|message| NodeError::Engine {
        connector: connector.clone(),
        message,
    })?;
    Ok(engine)
}

/// `deadline` in epoch ticks: rounded up, plus two because the first tick
/// may come at once and the next may sit less than a full tick later (see
/// [`start_ticker`]), so a deadline never ends a call early; capped far
/// below where wasmtime's addition overflows.
pub(crate) fn deadline_ticks(deadline: Duration) -> u64 {
    let ticks = deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos()) + 2;
    u64::try_from(ticks).unwrap_or(u64::MAX).min(1 << 62)
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
        let engine = node_engine(&spec.id)?;
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
        check_locked(bytes, expected_sha256_hex, &spec.id)?;
        WasmNode::new(bytes, spec)
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
        let engine = ticking_engine(&self.spec.id)?;
        let mut store = Store::new(
            engine,
            CallState {
                caps: Arc::clone(caps),
                spec: Arc::clone(&self.spec),
                budget: Budget::new(self.limits, 1, 1, 4),
            },
        );
        store.limiter(|state| &mut state.budget);
        store
            .set_fuel(self.limits.fuel)
            .map_err(|e| self.fault(&store, &e))?;
        store.epoch_deadline_trap();
        store.set_epoch_deadline(deadline_ticks(self.limits.deadline));

        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| self.fault(&store, &e))?;
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

    /// `{"ok": {...}}` → the checked outputs; `{"error": ...}` with a
    /// declared code → [`NodeError::Connector`] (an undeclared one is
    /// [`NodeError::UndeclaredErrorCode`]); anything else → an ABI error.
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
            (Some(code), Some(message), Some(_))
                if error.len() == 3 && self.spec.error(code).is_none() =>
            {
                Err(NodeError::UndeclaredErrorCode {
                    connector: connector(),
                    code: code.to_owned(),
                    message: message.to_owned(),
                })
            }
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
        if let Some(overrun) = store.data().budget.overrun(&self.spec.id, error) {
            return overrun;
        }
        let connector = self.spec.id.clone();
        match error.downcast_ref::<Trap>() {
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

    /// A wasmtime error outside a guest call (setting fuel, instantiating:
    /// start functions), as a [`NodeError`].
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
    /// What the call has spent; also the store's resource limiter.
    budget: Budget,
}

/// A capability host function: count the call, check the request's size,
/// read the request at (ptr, len), ask the application, place the bounded
/// reply through `lf_alloc`, return it packed.
fn host_call(
    caller: &mut Caller<'_, CallState>,
    capability: Capability,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<i64> {
    // The size is checked before the request is looked at: an oversized
    // request costs the host nothing.
    let (ptr, len) = (ptr.cast_unsigned(), len.cast_unsigned());
    caller
        .data_mut()
        .budget
        .admit_request(capability, len as usize)?;

    let memory = caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or(Fault::Export("memory"))?;
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
    let reply = bounded_reply(state, capability, &reply)?;
    caller
        .data_mut()
        .budget
        .spend_host_bytes(capability, reply.len())?;
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

/// `reply` as JSON bytes, serialised into a buffer that refuses to grow past
/// the reply limit or the rest of the traffic budget, whichever is smaller,
/// so an oversized reply is never finished.
fn bounded_reply(
    state: &CallState,
    capability: Capability,
    reply: &Value,
) -> wasmtime::Result<Vec<u8>> {
    let limits = state.budget.limits();
    let limit = limits
        .max_reply_bytes
        .min(state.budget.remaining_host_bytes());
    let mut buffer = BoundedBuffer {
        bytes: Vec::new(),
        limit,
        over: false,
    };
    match serde_json::to_writer(&mut buffer, reply) {
        Ok(()) => Ok(buffer.bytes),
        Err(_) if buffer.over && limit == limits.max_reply_bytes => {
            Err(wasmtime::Error::new(Fault::ReplyTooLarge {
                capability,
                limit,
            }))
        }
        Err(_) if buffer.over => Err(wasmtime::Error::new(Fault::HostTraffic {
            capability,
            limit: limits.max_host_bytes,
        })),
        Err(e) => Err(wasmtime::Error::new(e)),
    }
}

/// A byte buffer whose writes fail once it would exceed `limit`.
struct BoundedBuffer {
    bytes: Vec<u8>,
    limit: usize,
    over: bool,
}

impl io::Write for BoundedBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.limit - self.bytes.len() {
            self.over = true;
            return Err(io::Error::other("over the reply limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
