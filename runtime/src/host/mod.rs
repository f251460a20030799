//! The node host: the [`NodeRegistry`] and the wasmtime host for ABI v1
//! (docs/abi.md).
//!
//! - [`Node`] is what the registry holds: [`WasmNode`] (a connector module,
//!   compiled once on one shared engine, instantiated per call) and
//!   [`NativeNode`] (a Rust closure) implement it the same way, and
//!   [`NodeExt::invoke_typed`] adds typed calls to both. [`native`] is what
//!   generated native connectors build on: typed handles for exactly the
//!   declared capabilities.
//! - [`Capabilities`] is the one trait the embedding application implements
//!   to offer `http.read`, `kv.*`, `clock`, …; a module reaches only the
//!   capabilities its spec lists, because only those are linked.
//! - Every call runs under [`Limits`]: fuel, a wall-clock deadline (host
//!   calls included), memory and table caps, an output size, and a budget for
//!   host calls (their number, each request's and reply's size, and the bytes
//!   they move in all). Every way a module can misbehave or overrun is a
//!   [`NodeError`] naming the connector — never a panic of the host. Both
//!   hosts keep that count with the same `budget.rs`, so a limit is enforced
//!   and reported alike whichever ABI a connector speaks.
//!
//! - [`ComponentNode`] is the same for ABI v2 connectors (WebAssembly
//!   components, docs/wit.md), on the same engine and under the same
//!   [`Limits`]; [`load_locked`] picks the right one from the bytes.
//!
//! Only compiled with the `host` feature (the default): `spec` users never
//! build wasmtime.

mod budget;
mod capabilities;
mod component;
mod digest;
mod error;
pub mod native;
mod node;
mod registry;
mod wasm;

pub use capabilities::{Capabilities, HostError, HostResult, NoCapabilities, dispatch};
pub use component::{
    CODE_CACHE_ENV, CodeCache, CodeSource, ComponentNode, DefaultHttpClient, DeterminismProbe,
    FIXED_WALL_CLOCK_SECS, HttpClient, HttpError, HttpFuture, HttpOptions, is_component,
    load_locked,
};
pub use digest::{DigestCheck, check_sha256, sha256_hex};
pub use error::{NodeError, RegistryError};
pub use node::{NativeNode, Node, NodeExt};
pub use registry::NodeRegistry;
pub use wasm::{ABI_VERSION, EPOCH_TICK, Limits, WasmNode};
