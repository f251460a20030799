//! `lf-wrapper-gen`: turns a connector manifest and its locked lockfile entry
//! into the files of a vendored wrapper crate (README, "Generated crates and the runtime").
//!
//! It is a pure function of its inputs: it must never touch the network, the
//! cache layout or the registry, so that `generate --check` is reproducible on
//! any machine. [`generate`] returns the files; writing them is the caller's job.
//! [`wit`] derives an ABI v2 connector's WIT world from the same manifest;
//! [`native`] generates a native (plain Rust) connector's types, handles and
//! registration from its `connector.yaml`, at build time.

mod emit;
pub mod naming;
pub mod native;
mod runtime_api;
pub mod wit;

#[cfg(test)]
#[path = "templates/base64_serde.rs"]
#[allow(dead_code)]
mod base64_template;

pub use emit::{
    DuplicateId, GENERATED_HEADER, GenError, GeneratedFile, Input, RUNTIME_CRATE_DIR,
    UMBRELLA_CRATE, generate,
};
pub use naming::{
    NameCollision, NodeNames, RUST_KEYWORDS, RustIdent, camel_case, check_collisions, crate_name,
    field_idents, rust_ident,
};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod base64_tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Fields {
        #[serde(with = "crate::base64_template")]
        plain: Vec<u8>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "crate::base64_template"
        )]
        maybe: Option<Vec<u8>>,
        #[serde(with = "crate::base64_template")]
        nested: Vec<Option<Vec<u8>>>,
    }

    #[test]
    fn encodes_like_the_base64_crate() {
        for len in 0..64usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let value = Fields {
                plain: bytes.clone(),
                maybe: Some(bytes.clone()),
                nested: vec![None, Some(bytes.clone())],
            };
            let json = serde_json::to_value(&value).unwrap();
            let expected = STANDARD.encode(&bytes);
            assert_eq!(json["plain"], expected.as_str());
            assert_eq!(json["maybe"], expected.as_str());
            assert_eq!(json["nested"], serde_json::json!([null, expected]));
            assert_eq!(serde_json::from_value::<Fields>(json).unwrap(), value);
        }
    }

    #[test]
    fn optional_may_be_absent_or_null() {
        for json in [
            serde_json::json!({"plain": "AQI=", "nested": []}),
            serde_json::json!({"plain": "AQI=", "maybe": null, "nested": []}),
        ] {
            let v: Fields = serde_json::from_value(json).unwrap();
            assert_eq!(v.plain, [1, 2]);
            assert_eq!(v.maybe, None);
        }
        let v = Fields {
            plain: vec![],
            maybe: None,
            nested: vec![],
        };
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            serde_json::json!({"plain": "", "nested": []})
        );
    }

    #[test]
    fn rejects_what_the_runtime_rejects() {
        for bad in [
            "AQI", "AQ==AQ==", "A===", "====", "AQJ=", "AR==", "A-_=", "AQI=\n", " AQI=",
        ] {
            let json = serde_json::json!({"plain": bad, "nested": []});
            assert!(
                serde_json::from_value::<Fields>(json).is_err(),
                "accepted {bad:?}"
            );
            assert!(
                STANDARD.decode(bad).is_err(),
                "base64 crate accepts {bad:?}"
            );
        }
    }
}
