//! [`NodeRegistry`]: every node of a bundle, by connector id.
//!
//! Generated wrapper crates (`<node>_register(&mut registry)`) and
//! hand-written native connectors register the same way. An id can be
//! registered once; a second registration is an error, never a silent
//! replacement.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::{Capabilities, Node, RegistryError};
use crate::spec::{ConnectorId, NodeSpec};

/// The nodes of a bundle, by connector id.
#[derive(Default, Clone)]
pub struct NodeRegistry {
    nodes: BTreeMap<String, Arc<dyn Node>>,
}

impl NodeRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        NodeRegistry::default()
    }

    /// Registers `node` under its spec's id.
    pub fn register<N: Node + 'static>(&mut self, node: N) -> Result<(), RegistryError> {
        self.register_shared(Arc::new(node))
    }

    /// Registers an already shared node under its spec's id.
    pub fn register_shared(&mut self, node: Arc<dyn Node>) -> Result<(), RegistryError> {
        let id = node.spec().id.clone();
        match self.nodes.entry(id.as_str().to_owned()) {
            Entry::Occupied(_) => Err(RegistryError::DuplicateId { id }),
            Entry::Vacant(slot) => {
                slot.insert(node);
                Ok(())
            }
        }
    }

    /// The node registered as `id`, if any.
    pub fn get(&self, id: &str) -> Option<&Arc<dyn Node>> {
        self.nodes.get(id)
    }

    /// The node registered as `id`, or [`RegistryError::UnknownId`].
    pub fn require(&self, id: &str) -> Result<&Arc<dyn Node>, RegistryError> {
        self.get(id)
            .ok_or_else(|| RegistryError::UnknownId { id: id.to_owned() })
    }

    /// Whether a node is registered as `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.nodes.contains_key(id)
    }

    /// Invokes the node registered as `id`.
    pub fn invoke(
        &self,
        id: &str,
        input: Value,
        caps: &Arc<dyn Capabilities>,
    ) -> Result<Value, RegistryError> {
        Ok(self.require(id)?.invoke(input, caps)?)
    }

    /// The registered ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &ConnectorId> {
        self.nodes.values().map(|node| &node.spec().id)
    }

    /// The registered specs, sorted by id.
    pub fn specs(&self) -> impl Iterator<Item = &NodeSpec> {
        self.nodes.values().map(|node| node.spec())
    }

    /// How many nodes are registered.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is registered.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

impl fmt::Debug for NodeRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeRegistry")
            .field("ids", &self.nodes.keys().collect::<Vec<_>>())
            .finish()
    }
}
