//! The logic of {{id}}.
//!
//! `wit_bindgen::generate!` reads wit/world.wit: `Input`, `Output` and
//! `NodeError` are structs whose fields are the connector.yaml names, and
//! `Guest::run` is the one function to implement.

wit_bindgen::generate!({ world: "node", path: "wit" });

struct Connector;

impl Guest for Connector {
    fn run(input: Input) -> Result<Output, NodeError> {
        let name = input.name.trim();
        if name.is_empty() {
            // A declared error: a code listed under `errors` in connector.yaml.
            return Err(NodeError {
                code: "empty_name".to_owned(),
                message: "`name` is empty".to_owned(),
                retryable: false,
            });
        }
        Ok(Output {
            greeting: format!("Hello, {name}!"),
        })
    }
}

export!(Connector);
