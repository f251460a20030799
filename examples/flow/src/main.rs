//! A flow through the vendored connectors: text → upper-case → kv counter →
//! hash (and a greeting from a component connector when one is locked), with
//! the `kv` capability served from memory. Prints one JSON line
//! per step; exits non-zero when any step fails.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use lf_runtime::host::{Capabilities, HostError, HostResult, NodeRegistry};
use lf_runtime::spec::ConnectorId;
use serde_json::{Value, json};

/// The embedding application's capabilities: an in-memory key-value store.
#[derive(Default)]
struct Host {
    kv: Mutex<HashMap<String, String>>,
}

impl Capabilities for Host {
    fn kv_read(&self, _connector: &ConnectorId, request: &Value) -> HostResult {
        let key = request["key"].as_str().ok_or_else(|| HostError::new("bad_request", "no key"))?;
        let kv = self.kv.lock().map_err(|_| HostError::new("poisoned", "kv lock"))?;
        Ok(json!({ "value": kv.get(key) }))
    }

    fn kv_write(&self, _connector: &ConnectorId, request: &Value) -> HostResult {
        let (Some(key), Some(value)) = (request["key"].as_str(), request["value"].as_str()) else {
            return Err(HostError::new("bad_request", "key and value are strings"));
        };
        let mut kv = self.kv.lock().map_err(|_| HostError::new("poisoned", "kv lock"))?;
        kv.insert(key.to_owned(), value.to_owned());
        Ok(json!({}))
    }
}

fn main() -> ExitCode {
    let text = std::env::args().nth(1).unwrap_or_else(|| "hello, latticeflow".to_owned());
    let mut registry = NodeRegistry::new();
    if let Err(e) = latticeflow_connectors::register_all(&mut registry) {
        eprintln!("register_all: {e}");
        return ExitCode::FAILURE;
    }
    let caps: Arc<dyn Capabilities> = Arc::new(Host::default());
    let steps = [
        ("connector.latticeflow.text.upper", json!({ "text": text })),
        ("connector.latticeflow.kv.counter", json!({ "key": "runs" })),
        ("connector.latticeflow.kv.counter", json!({ "key": "runs" })),
    ];
    let mut upper = String::new();
    for (id, input) in steps {
        match registry.invoke(id, input, &caps) {
            Ok(output) => {
                if let Some(t) = output["text"].as_str() {
                    upper = t.to_owned();
                }
                println!("{}", json!({ "node": id, "output": output }));
            }
            Err(e) => {
                eprintln!("{id}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    match registry.invoke("connector.latticeflow.text.hash", json!({ "text": upper }), &caps) {
        Ok(output) => println!("{}", json!({ "node": "connector.latticeflow.text.hash", "output": output })),
        Err(e) => {
            eprintln!("connector.latticeflow.text.hash: {e}");
            return ExitCode::FAILURE;
        }
    }
    // A component connector (ABI v2), when the bundle locks one: the demo's
    // JavaScript `greet_js`. It is called the same way as the modules.
    let greet = "connector.example.greet_js";
    if registry.contains(greet) {
        match registry.invoke(greet, json!({ "name": text }), &caps) {
            Ok(output) => println!("{}", json!({ "node": greet, "output": output })),
            Err(e) => {
                eprintln!("{greet}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
