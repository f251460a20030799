//! [`ComponentNode`]: a connector component under ABI v2 (docs/abi.md,
//! docs/wit.md), compiled once and instantiated afresh for every call.
//!
//! Components are what real languages produce (componentize-py,
//! componentize-js, `cargo` with wit-bindgen). They run on the same engine
//! as ABI v1 modules and under the same [`Limits`], and they implement the
//! same [`Node`] trait, so a registry, `invoke` and `invoke_typed` do not
//! care which ABI a connector speaks, and [`load_locked`] builds either from
//! embedded bytes. What differs is the boundary:
//!
//! - **Values** cross as typed component values. Inputs are checked against
//!   the manifest and converted; the returned `output` record is converted
//!   back to the JSON mapping and checked like a module's output (see
//!   `values.rs`). `run`'s type is checked once, when the node is built.
//! - **The sandbox.** Language runtimes import a lot of WASI (a Python
//!   component imports 25 interfaces). Every WASI 0.2 interface is linked,
//!   but to an empty world: no preopened directory, no environment or
//!   arguments, stdin closed, stdout and stderr discarded (with `log`: kept,
//!   bounded, and forwarded as log lines after the call), no sockets, no
//!   name lookup. Clocks are fixed and random numbers come from a fixed seed
//!   unless the manifest declares `clock` / `random`, so an undeclared
//!   capability cannot make a node nondeterministic.
//! - **Capabilities** are standard interfaces where one exists:
//!   `wasi:http/outgoing-handler` (linked only when `http.read`/`http.write`
//!   is declared, behind the policy in `http.rs`), `wasi:logging` (to
//!   [`Capabilities::log`] when `log` is declared, discarded otherwise), and
//!   latticeflow's own `kv` / `db` interfaces (wit/capabilities.wit),
//!   translated to the JSON requests of [`Capabilities`] (documented in
//!   docs/abi.md). Anything else a component imports is refused when the
//!   node is built ([`NodeError::ComponentImport`]).
//! - **Compiled code** is cached on disk (`cache.rs`), because compiling a
//!   12–18 MB language runtime takes seconds.
//!
//! # Threads and tokio
//!
//! The API is synchronous. wasmtime-wasi runs its host side on tokio:
//! called from a plain thread it uses a private runtime, but it would block
//! on (and panic inside) a runtime the *calling* thread belongs to. So when
//! [`ComponentNode::invoke`](Node::invoke) finds itself on a tokio runtime
//! thread, it runs the call on a short-lived thread of its own and waits for
//! it (this is right for current-thread and multi-thread runtimes alike,
//! unlike `block_in_place`). Async callers should still prefer
//! `spawn_blocking`, which avoids blocking a runtime thread at all.
//! Capability methods then run on that helper thread.
//!
//! Time limits: fuel and the epoch deadline stop guest code, but a host call
//! that blocks (an HTTP request, a slow capability, a guest sleeping through
//! `wasi:io/poll`) is only noticed when it returns. HTTP waits are bounded
//! by [`Limits::http_timeout`].

mod cache;
mod http;
mod values;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng as _;
use serde_json::{Value, json};
use wasmtime::component::{
    ComponentExportIndex, InstancePre, Linker, LinkerInstance, ResourceTable, Val,
};
use wasmtime::{Store, StoreContextMut};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub use self::cache::{CODE_CACHE_ENV, CodeCache, CodeSource};
pub use self::http::{DefaultHttpClient, HttpClient, HttpError, HttpFuture, HttpOptions};

use super::budget::{Budget, Fault};
use super::capabilities::dispatch;
use super::digest::{check_locked, normalise_sha256, sha256_hex};
use super::node::{check_input_object, check_output};
use super::wasm::{deadline_ticks, node_engine, ticking_engine};
use super::{Capabilities, HostError, Limits, Node, NodeError, WasmNode};
use crate::spec::{Capability, ConnectorId, HostPattern, HostPatternError, NodeSpec};

/// The first eight bytes of a component binary: `\0asm`, then the
/// component-model version and layer (`0d 00 01 00`).
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// Whether `bytes` are a WebAssembly component (ABI v2) rather than a core
/// module (ABI v1), by their header.
pub fn is_component(bytes: &[u8]) -> bool {
    bytes.starts_with(&COMPONENT_HEADER)
}

/// Builds the node for embedded, locked connector bytes, whichever ABI they
/// speak: a component becomes a [`ComponentNode`] (allowed to reach
/// `http_hosts`), a module a [`WasmNode`] (whose HTTP goes through
/// [`Capabilities`]). The digest is checked first in both cases.
pub fn load_locked(
    bytes: &'static [u8],
    expected_sha256_hex: &str,
    spec: NodeSpec,
    http_hosts: impl HttpHosts,
) -> Result<Arc<dyn Node>, NodeError> {
    if is_component(bytes) {
        Ok(Arc::new(ComponentNode::from_locked(
            bytes,
            expected_sha256_hex,
            spec,
            http_hosts,
        )?))
    } else {
        Ok(Arc::new(WasmNode::from_locked(
            bytes,
            expected_sha256_hex,
            spec,
        )?))
    }
}

/// The HTTP destinations granted to a component (the `hosts` of its entry
/// in `latticeflow.toml`): parsed patterns, or their text as generated
/// crates embed it (`&["api.example.com", "*.googleapis.com:443"]`), which
/// is parsed when the node is built.
pub trait HttpHosts {
    /// The patterns, or the first that does not parse.
    fn into_patterns(self) -> Result<Vec<HostPattern>, HostPatternError>;
}

impl HttpHosts for Vec<HostPattern> {
    fn into_patterns(self) -> Result<Vec<HostPattern>, HostPatternError> {
        Ok(self)
    }
}

impl HttpHosts for &[HostPattern] {
    fn into_patterns(self) -> Result<Vec<HostPattern>, HostPatternError> {
        Ok(self.to_vec())
    }
}

impl HttpHosts for &[&str] {
    fn into_patterns(self) -> Result<Vec<HostPattern>, HostPatternError> {
        self.iter()
            .map(|pattern| HostPattern::parse(pattern))
            .collect()
    }
}

impl<const N: usize> HttpHosts for &[&str; N] {
    fn into_patterns(self) -> Result<Vec<HostPattern>, HostPatternError> {
        self.as_slice().into_patterns()
    }
}

/// A connector component ready to be called. See the module docs.
///
/// Calls are synchronous and may block the calling thread for up to the
/// call's deadline (and HTTP timeouts). Do not call it from an async task
/// directly; use `tokio::task::spawn_blocking` (a call made on a tokio
/// runtime thread anyway is moved to a helper thread, so it does not panic).
pub struct ComponentNode {
    spec: Arc<NodeSpec>,
    pre: InstancePre<HostState>,
    run: ComponentExportIndex,
    limits: Limits,
    http_hosts: Arc<[HostPattern]>,
    http_client: Arc<dyn HttpClient>,
    code_source: CodeSource,
    probe: Option<Arc<DeterminismProbe>>,
}

impl fmt::Debug for ComponentNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentNode")
            .field("id", &self.spec.id)
            .field("limits", &self.limits)
            .field("http_hosts", &self.http_hosts)
            .field("code_source", &self.code_source)
            .finish_non_exhaustive()
    }
}

impl ComponentNode {
    /// Compiles (or loads from the [`CodeCache::from_env`] cache) the
    /// component `bytes` for `spec`. `http_hosts` are the destinations the
    /// project allows this connector (used only if it declares `http.*`).
    ///
    /// Fails if the bytes are not a component, `run` does not have the type
    /// the manifest implies, or the component imports something this host
    /// does not link for it.
    pub fn new(
        bytes: &[u8],
        spec: NodeSpec,
        http_hosts: impl HttpHosts,
    ) -> Result<Self, NodeError> {
        ComponentNode::with_cache(bytes, spec, http_hosts, &CodeCache::from_env())
    }

    /// Like [`ComponentNode::new`], with an explicit compiled-code cache.
    pub fn with_cache(
        bytes: &[u8],
        spec: NodeSpec,
        http_hosts: impl HttpHosts,
        cache: &CodeCache,
    ) -> Result<Self, NodeError> {
        ComponentNode::build(bytes, &sha256_hex(bytes), spec, http_hosts, cache)
    }

    /// Builds the node for `bytes`, whose SHA-256 is `sha256_hex`.
    fn build(
        bytes: &[u8],
        sha256_hex: &str,
        spec: NodeSpec,
        http_hosts: impl HttpHosts,
        cache: &CodeCache,
    ) -> Result<Self, NodeError> {
        let connector = || spec.id.clone();
        let http_hosts =
            http_hosts
                .into_patterns()
                .map_err(|error| NodeError::InvalidHostPattern {
                    connector: connector(),
                    error,
                })?;
        let engine = node_engine(&spec.id)?;
        if !is_component(bytes) {
            return Err(NodeError::Compile {
                connector: connector(),
                message: "the bytes are not a WebAssembly component (wrong header)".to_owned(),
            });
        }
        let (component, code_source) =
            cache
                .load(engine, bytes, sha256_hex)
                .map_err(|e| NodeError::Compile {
                    connector: connector(),
                    message: format!("{e:#}"),
                })?;

        let expected = values::expected_signature(&spec);
        let run = match component.get_export(None, "run") {
            Some((wasmtime::component::types::ComponentItem::ComponentFunc(func), index)) => {
                if !values::run_matches(&spec, &func) {
                    return Err(NodeError::RunSignature {
                        connector: connector(),
                        problem: format!("is `{}`", values::describe_func(&func)),
                        expected,
                    });
                }
                index
            }
            Some(_) => {
                return Err(NodeError::RunSignature {
                    connector: connector(),
                    problem: "is not a function".to_owned(),
                    expected,
                });
            }
            None => {
                return Err(NodeError::RunSignature {
                    connector: connector(),
                    problem: "is missing".to_owned(),
                    expected,
                });
            }
        };

        let linker = linker(engine, &spec).map_err(|e| NodeError::Instantiate {
            connector: connector(),
            message: format!("{e:#}"),
        })?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| NodeError::ComponentImport {
                connector: connector(),
                message: format!("{e:#}"),
            })?;
        Ok(ComponentNode {
            spec: Arc::new(spec),
            pre,
            run,
            limits: Limits::default(),
            http_hosts: http_hosts.into(),
            http_client: Arc::new(DefaultHttpClient),
            code_source,
            probe: None,
        })
    }

    /// Like [`ComponentNode::new`] for bytes embedded in the binary, but
    /// first checks that they hash to the locked digest (`<hex>` or
    /// `sha256:<hex>`). A mismatch is refused before anything is compiled or
    /// read from the cache.
    pub fn from_locked(
        bytes: &'static [u8],
        expected_sha256_hex: &str,
        spec: NodeSpec,
        http_hosts: impl HttpHosts,
    ) -> Result<Self, NodeError> {
        check_locked(bytes, expected_sha256_hex, &spec.id)?;
        ComponentNode::build(
            bytes,
            &normalise_sha256(expected_sha256_hex).unwrap_or_default(),
            spec,
            http_hosts,
            &CodeCache::from_env(),
        )
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

    /// The same node sending its allowed HTTP requests through `client`
    /// instead of [`DefaultHttpClient`]. The grant, method and host checks
    /// still come first.
    #[must_use]
    pub fn with_http_client(mut self, client: Arc<dyn HttpClient>) -> Self {
        self.http_client = client;
        self
    }

    /// The same node taking the wall clock and random seed of each call from
    /// `probe` when it declares `clock` / `random`, so a test harness can
    /// vary them between calls and see whether the outputs change. Without
    /// the capability the host's fixed values stay: the probe changes
    /// nothing a node could not already see.
    #[must_use]
    pub fn with_determinism_probe(mut self, probe: Arc<DeterminismProbe>) -> Self {
        self.probe = Some(probe);
        self
    }

    /// Whether the native code was compiled for this node or loaded from
    /// the compiled-code cache.
    pub fn code_source(&self) -> CodeSource {
        self.code_source
    }

    /// One call: a fresh store and sandbox, instantiate, call `run`, convert
    /// and check the result.
    fn call(&self, input: &Value, caps: &Arc<dyn Capabilities>) -> Result<Value, NodeError> {
        let connector = || self.spec.id.clone();
        self.spec
            .check_inputs(input)
            .map_err(|error| NodeError::InputMismatch {
                connector: connector(),
                error,
            })?;
        let params = if self.spec.inputs.is_empty() {
            Vec::new()
        } else {
            vec![
                values::input_record(&self.spec.inputs, input).map_err(|message| {
                    NodeError::InputEncode {
                        connector: connector(),
                        message,
                    }
                })?,
            ]
        };

        let engine = ticking_engine(&self.spec.id)?;
        let (state, captured) = self.state(caps);
        let result = self.run_in(Store::new(engine, state), &params);
        if let Some(captured) = &captured {
            forward_output(captured, &**caps, &self.spec.id, self.limits.max_host_calls);
        }
        self.result(&result?)
    }

    /// Instantiates and runs `run` in a prepared store; returns its result.
    fn run_in(&self, mut store: Store<HostState>, params: &[Val]) -> Result<Val, NodeError> {
        let connector = || self.spec.id.clone();
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
        let run =
            instance
                .get_func(&mut store, self.run)
                .ok_or_else(|| NodeError::RunSignature {
                    connector: connector(),
                    problem: "is missing from the instance".to_owned(),
                    expected: values::expected_signature(&self.spec),
                })?;
        let [result] = {
            let mut results = [Val::Bool(false)];
            run.call(&mut store, params, &mut results)
                .map_err(|e| self.classify(&store, &e))?;
            results
        };
        Ok(result)
    }

    /// The checked outputs of `run`'s result, or the connector's error.
    fn result(&self, result: &Val) -> Result<Value, NodeError> {
        let connector = || self.spec.id.clone();
        let size = values::approx_size(result);
        if size > self.limits.max_output_bytes {
            return Err(NodeError::OutputTooLarge {
                connector: connector(),
                len: size as u64,
                limit: self.limits.max_output_bytes,
            });
        }
        match result {
            Val::Result(Ok(None)) if self.spec.outputs.is_empty() => {
                let output = Value::Object(serde_json::Map::new());
                check_output(&self.spec, &output)?;
                Ok(output)
            }
            Val::Result(Ok(Some(output))) => {
                let output = values::output_object(&self.spec.outputs, output).map_err(|p| {
                    NodeError::OutputValue {
                        connector: connector(),
                        field: p.field,
                        problem: p.problem,
                    }
                })?;
                check_output(&self.spec, &output)?;
                Ok(output)
            }
            Val::Result(Err(Some(error))) => {
                let Some((code, message, retryable)) = values::node_error(error) else {
                    return Err(NodeError::MalformedOutput {
                        connector: connector(),
                        reason: "the `node-error` record is not {code, message, retryable}"
                            .to_owned(),
                    });
                };
                if self.spec.error(&code).is_none() {
                    return Err(NodeError::UndeclaredErrorCode {
                        connector: connector(),
                        code,
                        message,
                    });
                }
                Err(NodeError::Connector {
                    connector: connector(),
                    code,
                    message,
                    retryable,
                })
            }
            _ => Err(NodeError::MalformedOutput {
                connector: connector(),
                reason: "`run` did not return `result<output, node-error>`".to_owned(),
            }),
        }
    }

    /// The store data of one call: a fresh, empty sandbox.
    fn state(&self, caps: &Arc<dyn Capabilities>) -> (HostState, Option<Captured>) {
        let granted = |c: Capability| self.spec.capabilities.contains(&c);
        let mut wasi = WasiCtx::builder();
        // With `log`, stdout and stderr are kept (bounded) and forwarded as
        // log lines after the call; without, they are discarded.
        let captured = granted(Capability::Log).then(|| Captured {
            stdout: MemoryOutputPipe::new(STDIO_CAPTURE_BYTES),
            stderr: MemoryOutputPipe::new(STDIO_CAPTURE_BYTES),
        });
        if let Some(captured) = &captured {
            wasi.stdout(captured.stdout.clone())
                .stderr(captured.stderr.clone());
        }
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(self.limits.max_reply_bytes as u64);
        let probe = self.probe.as_deref();
        if !granted(Capability::Clock) {
            wasi.wall_clock(FixedWallClock)
                .monotonic_clock(FixedMonotonicClock);
        } else if let Some(probe) = probe {
            wasi.wall_clock(ProbeWallClock(probe.wall_clock_secs()))
                .monotonic_clock(FixedMonotonicClock);
        }
        if !granted(Capability::Random) {
            wasi.secure_random(rand::rngs::StdRng::seed_from_u64(SEED))
                .insecure_random(rand::rngs::StdRng::seed_from_u64(SEED + 1))
                .insecure_random_seed(u128::from(SEED));
        } else if let Some(probe) = probe {
            let seed = probe.seed();
            wasi.secure_random(rand::rngs::StdRng::seed_from_u64(seed))
                .insecure_random(rand::rngs::StdRng::seed_from_u64(seed.wrapping_add(1)))
                .insecure_random_seed(u128::from(seed));
        }
        let state = HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks: http::HttpPolicy {
                read: granted(Capability::HttpRead),
                write: granted(Capability::HttpWrite),
                hosts: Arc::clone(&self.http_hosts),
                client: Arc::clone(&self.http_client),
                timeout: self.limits.http_timeout,
                max_request_bytes: self.limits.max_request_bytes,
                max_response_bytes: self.limits.max_reply_bytes,
                remaining: self.limits.max_host_calls,
            },
            caps: Arc::clone(caps),
            spec: Arc::clone(&self.spec),
            budget: Budget::new(self.limits, MAX_INSTANCES, MAX_INSTANCES, MAX_INSTANCES),
        };
        (state, captured)
    }

    /// A wasmtime error from a guest call, as a [`NodeError`].
    fn classify(&self, store: &Store<HostState>, error: &wasmtime::Error) -> NodeError {
        store
            .data()
            .budget
            .overrun(&self.spec.id, error)
            .unwrap_or_else(|| NodeError::Trap {
                connector: self.spec.id.clone(),
                message: format!("{error:#}"),
            })
    }

    /// A wasmtime error outside `run` (instantiation: start functions and
    /// the guest's own initialisation), as a [`NodeError`].
    fn fault(&self, store: &Store<HostState>, error: &wasmtime::Error) -> NodeError {
        match self.classify(store, error) {
            NodeError::Trap { connector, message } => NodeError::Instantiate { connector, message },
            other => other,
        }
    }
}

impl Node for ComponentNode {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    fn invoke(&self, input: Value, caps: &Arc<dyn Capabilities>) -> Result<Value, NodeError> {
        check_input_object(&self.spec, &input)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return self.call(&input, caps);
        }
        // On a tokio runtime thread: wasmtime-wasi would block on (and panic
        // in) this runtime, so call from a thread outside it.
        std::thread::scope(|scope| {
            match std::thread::Builder::new()
                .name("lf-runtime-component".to_owned())
                .spawn_scoped(scope, || self.call(&input, caps))
            {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(e) => Err(NodeError::Engine {
                    connector: self.spec.id.clone(),
                    message: format!("no thread for a call made on a tokio runtime: {e}"),
                }),
            }
        })
    }
}

/// What a guest with `log` wrote to stdout and stderr during one call.
struct Captured {
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

/// Forwards what the guest wrote to stdout and stderr, line by line, to
/// [`Capabilities::log`] (at most `max_lines` lines; blank lines skipped).
fn forward_output(
    captured: &Captured,
    caps: &dyn Capabilities,
    connector: &ConnectorId,
    max_lines: u32,
) {
    let mut budget = max_lines;
    for (context, level, pipe) in [
        ("stdout", "info", &captured.stdout),
        ("stderr", "warn", &captured.stderr),
    ] {
        let contents = pipe.contents();
        for line in String::from_utf8_lossy(&contents).lines() {
            if line.trim().is_empty() {
                continue;
            }
            if budget == 0 {
                return;
            }
            budget -= 1;
            let request = json!({ "level": level, "context": context, "message": line });
            let _ = caps.log(connector, &request);
        }
    }
}

/// How much of stdout and of stderr is kept per call; a guest writing more
/// finds the stream closed.
const STDIO_CAPTURE_BYTES: usize = 64 << 10;

/// The seed of the deterministic random sources.
const SEED: u64 = 0x6c66_2d72_756e_7469;

/// Instances, memories and tables one component may create: language
/// runtimes are made of dozens of core instances.
const MAX_INSTANCES: usize = 10_000;

/// The wall clock a component sees without `clock`: 2023-11-14T22:13:20Z.
pub const FIXED_WALL_CLOCK_SECS: u64 = 1_700_000_000;

struct FixedWallClock;

impl wasmtime_wasi::HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(FIXED_WALL_CLOCK_SECS)
    }
}

/// The clock and seed a test harness sets before each call of a node built
/// [`ComponentNode::with_determinism_probe`]: certification runs a
/// `deterministic` component several times with different values and
/// compares the outputs.
#[derive(Debug)]
pub struct DeterminismProbe {
    wall_clock_secs: std::sync::atomic::AtomicU64,
    seed: std::sync::atomic::AtomicU64,
}

impl Default for DeterminismProbe {
    fn default() -> Self {
        DeterminismProbe {
            wall_clock_secs: FIXED_WALL_CLOCK_SECS.into(),
            seed: SEED.into(),
        }
    }
}

impl DeterminismProbe {
    /// The values of the next calls: the wall clock (seconds since the
    /// Unix epoch, not advancing) and the seed of both random sources.
    pub fn set(&self, wall_clock_secs: u64, seed: u64) {
        use std::sync::atomic::Ordering;
        self.wall_clock_secs
            .store(wall_clock_secs, Ordering::Relaxed);
        self.seed.store(seed, Ordering::Relaxed);
    }

    fn wall_clock_secs(&self) -> u64 {
        self.wall_clock_secs
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn seed(&self) -> u64 {
        self.seed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

struct ProbeWallClock(u64);

impl wasmtime_wasi::HostWallClock for ProbeWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(self.0)
    }
}

struct FixedMonotonicClock;

impl wasmtime_wasi::HostMonotonicClock for FixedMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The linker for `spec`: the WASI sandbox, logging, and the capability
/// interfaces the spec declares.
fn linker(engine: &wasmtime::Engine, spec: &NodeSpec) -> wasmtime::Result<Linker<HostState>> {
    let granted = |c: Capability| spec.capabilities.contains(&c);
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    if granted(Capability::HttpRead) || granted(Capability::HttpWrite) {
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
    }
    link_logging(&mut linker.instance("wasi:logging/logging@0.1.0-draft")?)?;
    if granted(Capability::KvRead) || granted(Capability::KvWrite) {
        link_kv(&mut linker.instance("latticeflow:capabilities/kv@0.2.0")?)?;
    }
    if granted(Capability::DbRead) || granted(Capability::DbWrite) {
        link_db(&mut linker.instance("latticeflow:capabilities/db@0.2.0")?)?;
    }
    Ok(linker)
}

fn link_logging(instance: &mut LinkerInstance<'_, HostState>) -> wasmtime::Result<()> {
    instance.func_new("log", |mut store, _ty, params, _results| {
        let [Val::Enum(level), Val::String(context), Val::String(message)] = params else {
            return Err(wasmtime::Error::msg(
                "wasi:logging/logging.log called with unexpected arguments",
            ));
        };
        let request = json!({ "level": level, "context": context, "message": message });
        // Logging is discarded, not refused, when `log` is not granted.
        let _ = host_call(&mut store, Capability::Log, &request, None)?;
        Ok(())
    })
}

/// The `kv` error variant for a host error.
fn kv_error(error: &HostError) -> Val {
    match error.code.as_str() {
        "denied" => Val::Variant("denied".to_owned(), None),
        "too_large" => Val::Variant("too-large".to_owned(), None),
        _ => Val::Variant(
            "unavailable".to_owned(),
            Some(Box::new(Val::String(describe_host_error(error)))),
        ),
    }
}

/// The `db` error variant for a host error.
fn db_error(error: &HostError) -> Val {
    match error.code.as_str() {
        "denied" => Val::Variant("denied".to_owned(), None),
        "too_large" => Val::Variant("too-large".to_owned(), None),
        "invalid" => Val::Variant(
            "invalid".to_owned(),
            Some(Box::new(Val::String(describe_host_error(error)))),
        ),
        _ => Val::Variant(
            "unavailable".to_owned(),
            Some(Box::new(Val::String(describe_host_error(error)))),
        ),
    }
}

fn describe_host_error(error: &HostError) -> String {
    match &error.message {
        Some(message) => format!("{}: {message}", error.code),
        None => error.code.clone(),
    }
}

fn ok(val: Option<Val>) -> Val {
    Val::Result(Ok(val.map(Box::new)))
}

fn err(val: Val) -> Val {
    Val::Result(Err(Some(Box::new(val))))
}

fn malformed_reply(capability: Capability) -> HostError {
    HostError::new(
        "malformed_reply",
        format!("the application's `{capability}` reply has the wrong shape"),
    )
}

fn string_param(params: &[Val], index: usize) -> wasmtime::Result<String> {
    match params.get(index) {
        Some(Val::String(s)) => Ok(s.clone()),
        _ => Err(wasmtime::Error::msg(
            "a capability function was called with unexpected arguments",
        )),
    }
}

fn link_kv(instance: &mut LinkerInstance<'_, HostState>) -> wasmtime::Result<()> {
    instance.func_new("get", |mut store, _ty, params, results| {
        let request = json!({ "op": "get", "key": string_param(params, 0)? });
        results[0] = match host_call(&mut store, Capability::KvRead, &request, Some(kv_error))? {
            Err(e) => err(e),
            Ok(reply) => match reply.get("value") {
                Some(Value::Null) => ok(Some(Val::Option(None))),
                Some(Value::String(s)) => {
                    ok(Some(Val::Option(Some(Box::new(Val::String(s.clone()))))))
                }
                _ => err(kv_error(&malformed_reply(Capability::KvRead))),
            },
        };
        Ok(())
    })?;
    instance.func_new("list-keys", |mut store, _ty, params, results| {
        let start_after = match params.get(1) {
            Some(Val::Option(Some(s))) => match &**s {
                Val::String(s) => Value::String(s.clone()),
                _ => Value::Null,
            },
            _ => Value::Null,
        };
        let limit = match params.get(2) {
            Some(Val::U32(n)) => *n,
            _ => 0,
        };
        let request = json!({
            "op": "list",
            "prefix": string_param(params, 0)?,
            "start_after": start_after,
            "limit": limit,
        });
        results[0] = match host_call(&mut store, Capability::KvRead, &request, Some(kv_error))? {
            Err(e) => err(e),
            Ok(reply) => match reply.get("keys").and_then(Value::as_array) {
                Some(keys) if keys.iter().all(Value::is_string) => ok(Some(Val::List(
                    keys.iter()
                        .filter_map(Value::as_str)
                        .map(|k| Val::String(k.to_owned()))
                        .collect(),
                ))),
                _ => err(kv_error(&malformed_reply(Capability::KvRead))),
            },
        };
        Ok(())
    })?;
    instance.func_new("set", |mut store, _ty, params, results| {
        let request = json!({
            "op": "set",
            "key": string_param(params, 0)?,
            "value": string_param(params, 1)?,
        });
        results[0] = match host_call(&mut store, Capability::KvWrite, &request, Some(kv_error))? {
            Err(e) => err(e),
            Ok(_) => ok(None),
        };
        Ok(())
    })?;
    instance.func_new("delete", |mut store, _ty, params, results| {
        let request = json!({ "op": "delete", "key": string_param(params, 0)? });
        results[0] = match host_call(&mut store, Capability::KvWrite, &request, Some(kv_error))? {
            Err(e) => err(e),
            Ok(_) => ok(None),
        };
        Ok(())
    })
}

/// `params` text as JSON, or the `invalid` error the guest gets back.
fn db_params(text: &str) -> Result<Value, Val> {
    serde_json::from_str::<Value>(text)
        .ok()
        .filter(Value::is_array)
        .ok_or_else(|| {
            err(db_error(&HostError::new(
                "invalid",
                "`params` must be the text of a JSON array",
            )))
        })
}

fn link_db(instance: &mut LinkerInstance<'_, HostState>) -> wasmtime::Result<()> {
    link_db_function(instance, "query", Capability::DbRead, |reply| {
        match reply.get("rows") {
            Some(rows @ Value::Array(_)) => Some(Val::String(rows.to_string())),
            _ => None,
        }
    })?;
    link_db_function(instance, "execute", Capability::DbWrite, |reply| {
        reply
            .get("rows_affected")
            .and_then(Value::as_u64)
            .map(Val::U64)
    })
}

/// The `db` function `op(statement, params)`: sent to the application as
/// the request `op` under `capability`; `result` picks the guest's value out
/// of the reply (`None`: the reply has the wrong shape).
fn link_db_function(
    instance: &mut LinkerInstance<'_, HostState>,
    op: &'static str,
    capability: Capability,
    result: fn(&Value) -> Option<Val>,
) -> wasmtime::Result<()> {
    instance.func_new(op, move |mut store, _ty, params, results| {
        let statement = string_param(params, 0)?;
        let bound = match db_params(&string_param(params, 1)?) {
            Ok(v) => v,
            Err(e) => {
                results[0] = e;
                return Ok(());
            }
        };
        let request = json!({ "op": op, "statement": statement, "params": bound });
        results[0] = match host_call(&mut store, capability, &request, Some(db_error))? {
            Err(e) => err(e),
            Ok(reply) => match result(&reply) {
                Some(value) => ok(Some(value)),
                None => err(db_error(&malformed_reply(capability))),
            },
        };
        Ok(())
    })
}

/// One capability call on behalf of the guest, under the call's host-call
/// budget: counted, the request and reply sizes checked, and an ungranted
/// capability answered with `denied` (as the guest's error, through
/// `to_error`) without asking the application. `to_error` is `None` for
/// `log`, whose ungranted calls are discarded.
fn host_call(
    store: &mut StoreContextMut<'_, HostState>,
    capability: Capability,
    request: &Value,
    to_error: Option<fn(&HostError) -> Val>,
) -> wasmtime::Result<Result<Value, Val>> {
    let state = store.data_mut();
    state
        .budget
        .admit_request(capability, request.to_string().len())?;
    if !state.spec.capabilities.contains(&capability) {
        let denied = HostError::new(
            "denied",
            format!("`{capability}` is not granted to this connector"),
        );
        return Ok(Err(to_error.map_or(Val::Bool(false), |f| f(&denied))));
    }
    let reply = dispatch(&*state.caps, capability, &state.spec.id, request);
    let reply_len = match &reply {
        Ok(v) => v.to_string().len(),
        Err(e) => e.message.as_ref().map_or(0, String::len) + e.code.len(),
    };
    let max_reply_bytes = state.budget.limits().max_reply_bytes;
    if reply_len > max_reply_bytes {
        return Err(wasmtime::Error::new(Fault::ReplyTooLarge {
            capability,
            limit: max_reply_bytes,
        }));
    }
    state.budget.spend_host_bytes(capability, reply_len)?;
    Ok(match reply {
        Ok(v) => Ok(v),
        Err(e) => Err(to_error.map_or(Val::Bool(false), |f| f(&e))),
    })
}

/// The store's data for one call.
struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: http::HttpPolicy,
    caps: Arc<dyn Capabilities>,
    spec: Arc<NodeSpec>,
    /// What the call has spent; also the store's resource limiter.
    budget: Budget,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Mutex;

    use wasmtime_wasi::p2::OutputStream as _;

    use super::*;
    use crate::host::HostResult;

    #[derive(Default)]
    struct Lines(Mutex<Vec<Value>>);

    impl Capabilities for Lines {
        fn log(&self, _connector: &ConnectorId, request: &Value) -> HostResult {
            self.0.lock().unwrap().push(request.clone());
            Ok(json!({}))
        }
    }

    #[test]
    fn stdout_and_stderr_become_bounded_log_lines() {
        let captured = Captured {
            stdout: MemoryOutputPipe::new(STDIO_CAPTURE_BYTES),
            stderr: MemoryOutputPipe::new(STDIO_CAPTURE_BYTES),
        };
        captured
            .stdout
            .clone()
            .write(bytes::Bytes::from_static(b"one\n\ntwo\n"))
            .unwrap();
        captured
            .stderr
            .clone()
            .write(bytes::Bytes::from_static(b"oops"))
            .unwrap();
        let id: ConnectorId = "connector.test.log.stdio".parse().unwrap();
        let lines = Lines::default();
        forward_output(&captured, &lines, &id, 10);
        assert_eq!(
            *lines.0.lock().unwrap(),
            [
                json!({ "level": "info", "context": "stdout", "message": "one" }),
                json!({ "level": "info", "context": "stdout", "message": "two" }),
                json!({ "level": "warn", "context": "stderr", "message": "oops" }),
            ]
        );
        let lines = Lines::default();
        forward_output(&captured, &lines, &id, 2);
        assert_eq!(lines.0.lock().unwrap().len(), 2, "bounded");
    }
}
