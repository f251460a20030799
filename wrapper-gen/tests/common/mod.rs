//! Shared by the wrapper-gen integration tests: the fixture connectors'
//! manifests, by connector name.

/// `(connector name, connector.yaml)` of every fixture connector.
pub(crate) const FIXTURES: [(&str, &str); 5] = [
    (
        "hash",
        include_str!("../../../registry-fixtures/connectors/hash/connector.yaml"),
    ),
    (
        "http_fetch",
        include_str!("../../../registry-fixtures/connectors/http-fetch/connector.yaml"),
    ),
    (
        "json_reshape",
        include_str!("../../../registry-fixtures/connectors/json-reshape/connector.yaml"),
    ),
    (
        "kv_counter",
        include_str!("../../../registry-fixtures/connectors/kv-counter/connector.yaml"),
    ),
    (
        "text_upper",
        include_str!("../../../registry-fixtures/connectors/text-upper/connector.yaml"),
    ),
];
