//! The native latticeflow connector `{{id}}`: plain Rust, registered in the
//! application's `NodeRegistry` beside WASM connectors.
//!
//! build.rs generates, from connector.yaml, `{{Node}}Input` and
//! `{{Node}}Output` (one field per declared input and output), `{{Node}}Caps`
//! (one handle per declared capability, and nothing else), `{{node}}_errors`
//! (the declared error codes), the trait `{{Node}}Node` implemented below,
//! `{{node}}_node_spec()` and `{{node}}_register(&mut registry)`.

include!(concat!(env!("OUT_DIR"), "/connector.rs"));

use lf_runtime::host::native::Failure;

/// The node: `{{node}}_register` registers `{{Node}}::default()`.
#[derive(Debug, Default)]
pub struct {{Node}};

impl {{Node}}Node for {{Node}} {
    fn run(&self, input: {{Node}}Input, _caps: &{{Node}}Caps) -> Result<{{Node}}Output, Failure> {
        // `_caps` has a field for each capability connector.yaml declares
        // (`kv.read` → `caps.kv_read.get(key)`); any other is not there.
        let name = input.name.trim();
        if name.is_empty() {
            // A declared error: a code listed under `errors` in connector.yaml.
            // An undeclared code fails the call as a broken contract.
            return Err(Failure::new({{node}}_errors::EMPTY_NAME, "`name` is empty"));
        }
        Ok({{Node}}Output {
            greeting: format!("Hello, {name}!"),
        })
    }
}
