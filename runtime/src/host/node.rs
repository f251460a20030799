//! The [`Node`] trait every registered node implements — WASM-backed
//! [`WasmNode`](super::WasmNode)s and hand-written native Rust connectors alike —
//! and the typed call on top of it.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Capabilities, NodeError};
use crate::spec::{JsonKind, NodeSpec};

/// A node: a spec and a call from an `inputs` object to an `ok` object.
///
/// `input` is the object of declared inputs (not the `{"inputs": ...}`
/// envelope); the result is the object of declared outputs, checked against
/// [`NodeSpec::outputs`] by the implementation. A connector's own
/// `{"error": ...}` result is [`NodeError::Connector`].
pub trait Node: Send + Sync {
    /// The node's contract.
    fn spec(&self) -> &NodeSpec;

    /// Runs the node once, reaching the outside world only through `caps`.
    fn invoke(&self, input: Value, caps: &Arc<dyn Capabilities>) -> Result<Value, NodeError>;
}

/// Typed calls for every [`Node`]: serialise the input, deserialise the
/// checked output.
pub trait NodeExt: Node {
    /// Invokes the node with a typed input and returns a typed output.
    fn invoke_typed<I: Serialize, O: DeserializeOwned>(
        &self,
        input: &I,
        caps: &Arc<dyn Capabilities>,
    ) -> Result<O, NodeError> {
        let connector = || self.spec().id.clone();
        let input = serde_json::to_value(input).map_err(|e| NodeError::InputEncode {
            connector: connector(),
            message: e.to_string(),
        })?;
        let output = self.invoke(input, caps)?;
        serde_json::from_value(output).map_err(|e| NodeError::OutputDecode {
            connector: connector(),
            message: e.to_string(),
        })
    }
}

impl<N: Node + ?Sized> NodeExt for N {}

/// The signature of a native node's body.
type NativeFn =
    dyn Fn(Value, &Arc<dyn Capabilities>) -> Result<Value, NodeError> + Send + Sync + 'static;

/// A hand-written Rust node: a spec and a closure. Its outputs are checked
/// against the spec like a module's, so a native node cannot break its
/// contract either.
pub struct NativeNode {
    spec: NodeSpec,
    body: Box<NativeFn>,
}

impl NativeNode {
    /// A node running `body` under `spec`.
    pub fn new<F>(spec: NodeSpec, body: F) -> Self
    where
        F: Fn(Value, &Arc<dyn Capabilities>) -> Result<Value, NodeError> + Send + Sync + 'static,
    {
        NativeNode {
            spec,
            body: Box::new(body),
        }
    }
}

impl fmt::Debug for NativeNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeNode")
            .field("id", &self.spec.id)
            .finish_non_exhaustive()
    }
}

impl Node for NativeNode {
    fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    fn invoke(&self, input: Value, caps: &Arc<dyn Capabilities>) -> Result<Value, NodeError> {
        check_input_object(&self.spec, &input)?;
        let output = (self.body)(input, caps)?;
        check_output(&self.spec, &output)?;
        Ok(output)
    }
}

/// Rejects an input that is not an object.
pub(crate) fn check_input_object(spec: &NodeSpec, input: &Value) -> Result<(), NodeError> {
    if input.is_object() {
        Ok(())
    } else {
        Err(NodeError::InputNotObject {
            connector: spec.id.clone(),
            found: JsonKind::of(input).to_string(),
        })
    }
}

/// Checks an `ok` object against the declared outputs.
pub(crate) fn check_output(spec: &NodeSpec, output: &Value) -> Result<(), NodeError> {
    spec.check_outputs(output)
        .map_err(|error| NodeError::OutputMismatch {
            connector: spec.id.clone(),
            error,
        })
}
