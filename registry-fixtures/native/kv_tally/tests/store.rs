//! What the contract format cannot script: the store's state after a call,
//! and a store that fails (the declared, retryable `store_unavailable`).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use lf_runtime::host::{
    Capabilities, HostError, HostResult, NodeError, NodeRegistry, RegistryError,
};
use lf_runtime::spec::ConnectorId;
use serde_json::{Value, json};

const ID: &str = "connector.native.kv.tally";

#[derive(Default)]
struct Store {
    kv: Mutex<BTreeMap<String, String>>,
    calls: Mutex<Vec<(String, Value)>>,
}

impl Capabilities for Store {
    fn kv_read(&self, connector: &ConnectorId, request: &Value) -> HostResult {
        self.calls
            .lock()
            .unwrap()
            .push((connector.to_string(), request.clone()));
        let kv = self.kv.lock().unwrap();
        Ok(json!({"value": kv.get(request["key"].as_str().unwrap())}))
    }

    fn kv_write(&self, connector: &ConnectorId, request: &Value) -> HostResult {
        self.calls
            .lock()
            .unwrap()
            .push((connector.to_string(), request.clone()));
        let key = request["key"].as_str().unwrap().to_owned();
        let value = request["value"].as_str().unwrap().to_owned();
        self.kv.lock().unwrap().insert(key, value);
        Ok(json!({}))
    }
}

/// A store that is down.
struct Down;

impl Capabilities for Down {
    fn kv_read(&self, _: &ConnectorId, _: &Value) -> HostResult {
        Err(HostError::new("unavailable", "the store is down").retryable(true))
    }
}

fn registry() -> NodeRegistry {
    let mut registry = NodeRegistry::new();
    lf_native_kv_tally::tally_register(&mut registry).unwrap();
    registry
}

#[test]
fn writes_the_new_count_as_the_calling_connector() {
    let store = Arc::new(Store::default());
    let caps: Arc<dyn Capabilities> = store.clone();
    let registry = registry();
    for _ in 0..3 {
        registry
            .invoke(ID, json!({"key": "k", "by": 2}), &caps)
            .unwrap();
    }
    assert_eq!(store.kv.lock().unwrap()["tally/k"], "6");
    let calls = store.calls.lock().unwrap();
    assert_eq!(calls.len(), 6);
    assert!(calls.iter().all(|(connector, _)| connector == ID));
}

#[test]
fn a_failing_store_is_the_declared_retryable_error() {
    let caps: Arc<dyn Capabilities> = Arc::new(Down);
    match registry().invoke(ID, json!({"key": "k"}), &caps) {
        Err(RegistryError::Node(NodeError::Connector {
            code, retryable, ..
        })) => {
            assert_eq!((code.as_str(), retryable), ("store_unavailable", true));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn registering_twice_is_refused() {
    let mut registry = registry();
    assert!(matches!(
        lf_native_kv_tally::tally_register(&mut registry),
        Err(RegistryError::DuplicateId { .. })
    ));
}
