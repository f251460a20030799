//! `lf_wrapper_gen::wit`: snapshots of generated worlds, each also parsed and
//! resolved by wit-parser together with the repository's `wit/` package and
//! minimal stubs of the WASI packages, and read back: the record fields, their
//! types, the imports and `run`'s signature must be what connector.yaml says.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use lf_runtime::spec::{Capability, ConnectorManifest, ValueType};
use lf_wrapper_gen::wit::{
    self, CAPABILITIES_PACKAGE, Side, WIT_KEYWORDS, WitError, WitNameError, wit_name, wit_type,
};
use wit_parser::{Resolve, Type, TypeDefKind, WorldItem, WorldKey};

const CAPABILITIES_WIT: &str = include_str!("../../wit/capabilities.wit");

/// The WASI packages a world may import, reduced to the interface names:
/// enough for resolution, which is all these tests need from them.
const STUBS: [(&str, &str); 4] = [
    (
        "stub/http.wit",
        "package wasi:http@0.2.0;\ninterface outgoing-handler {}\n",
    ),
    (
        "stub/clocks.wit",
        "package wasi:clocks@0.2.0;\ninterface wall-clock {}\ninterface monotonic-clock {}\n",
    ),
    (
        "stub/random.wit",
        "package wasi:random@0.2.0;\ninterface random {}\n",
    ),
    (
        "stub/logging.wit",
        "package wasi:logging@0.1.0-draft;\ninterface logging {}\n",
    ),
];

fn manifest(yaml: &str) -> ConnectorManifest {
    ConnectorManifest::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// A manifest from its parts, as YAML: `(name, type)` inputs and outputs.
fn yaml(inputs: &[(&str, &str)], outputs: &[(&str, &str)], capabilities: &[Capability]) -> String {
    let fields = |fields: &[(&str, &str)]| -> String {
        if fields.is_empty() {
            return " []\n".to_owned();
        }
        let mut out = "\n".to_owned();
        for (name, ty) in fields {
            out.push_str(&format!("  - name: {name}\n    type: \"{ty}\"\n"));
        }
        out
    };
    let caps: Vec<&str> = capabilities.iter().map(|c| c.as_str()).collect();
    format!(
        "id: connector.acme.test\ninputs:{}outputs:{}effects: []\ndeterministic: true\ncapabilities: [{}]\n",
        fields(inputs),
        fields(outputs),
        caps.join(", ")
    )
}

/// The world of `yaml`, after checking that it resolves and says what the
/// manifest says.
fn world_of(yaml: &str) -> String {
    let manifest = manifest(yaml);
    let text = wit::world(&manifest).unwrap();
    check_resolves(&manifest, &text);
    text
}

fn resolve_with_deps(world: &str) -> Result<(Resolve, wit_parser::PackageId), String> {
    let mut resolve = Resolve::new();
    for (path, source) in STUBS {
        resolve.push_source(path, source).unwrap();
    }
    resolve
        .push_source("wit/capabilities.wit", CAPABILITIES_WIT)
        .unwrap();
    let package = resolve
        .push_source("world.wit", world)
        .map_err(|e| format!("{e:?}"))?;
    Ok((resolve, package))
}

/// A resolved type written back as WIT.
fn show(resolve: &Resolve, ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::U8 => "u8".into(),
        Type::S64 => "s64".into(),
        Type::F64 => "f64".into(),
        Type::String => "string".into(),
        Type::Id(id) => {
            let def = &resolve.types[*id];
            match &def.kind {
                TypeDefKind::List(item) => format!("list<{}>", show(resolve, item)),
                TypeDefKind::Option(inner) => format!("option<{}>", show(resolve, inner)),
                TypeDefKind::Result(r) => format!(
                    "result<{}, {}>",
                    r.ok.as_ref().map_or("_".into(), |t| show(resolve, t)),
                    r.err.as_ref().map_or("_".into(), |t| show(resolve, t)),
                ),
                TypeDefKind::Type(alias) => show(resolve, alias),
                TypeDefKind::Record(_) => def.name.clone().unwrap(),
                other => panic!("unexpected type {other:?}"),
            }
        }
        other => panic!("unexpected type {other:?}"),
    }
}

/// The `(name, type)` fields of the world's record `name`, if it has one.
fn record(
    resolve: &Resolve,
    world: &wit_parser::World,
    name: &str,
) -> Option<Vec<(String, String)>> {
    let item = world.imports.get(&WorldKey::Name(name.to_owned()))?;
    let WorldItem::Type { id, .. } = item else {
        panic!("{name} is not a type")
    };
    let TypeDefKind::Record(r) = &resolve.types[*id].kind else {
        panic!("{name} is not a record")
    };
    Some(
        r.fields
            .iter()
            .map(|f| (f.name.clone(), show(resolve, &f.ty)))
            .collect(),
    )
}

fn check_resolves(manifest: &ConnectorManifest, text: &str) {
    let (resolve, package) = resolve_with_deps(text)
        .unwrap_or_else(|e| panic!("the world does not resolve: {e:?}\n{text}"));
    let world_id = resolve.select_world(&[package], Some("node")).unwrap();
    let world = &resolve.worlds[world_id];
    assert_eq!(
        resolve.packages[package].name.to_string(),
        wit::NODE_PACKAGE
    );

    let expected = |fields: &[lf_runtime::spec::FieldSpec]| -> Option<Vec<(String, String)>> {
        (!fields.is_empty()).then(|| {
            fields
                .iter()
                .map(|f| (wit_name(&f.name).unwrap(), wit_type(&f.ty)))
                .collect()
        })
    };
    assert_eq!(
        record(&resolve, world, "input"),
        expected(manifest.inputs())
    );
    assert_eq!(
        record(&resolve, world, "output"),
        expected(manifest.outputs())
    );
    assert_eq!(
        record(&resolve, world, "node-error").unwrap(),
        [
            ("code".to_owned(), "string".to_owned()),
            ("message".to_owned(), "string".to_owned()),
            ("retryable".to_owned(), "bool".to_owned()),
        ]
    );

    let mut imported: Vec<String> = world
        .imports
        .values()
        .filter_map(|item: &WorldItem| match item {
            WorldItem::Interface { id, .. } => Some(resolve.id_of(*id).unwrap()),
            _ => None,
        })
        .collect();
    imported.sort();
    let mut wanted: Vec<String> = wit::imports(manifest.capabilities())
        .into_iter()
        .map(str::to_owned)
        .collect();
    wanted.sort();
    assert_eq!(imported, wanted, "{text}");

    assert_eq!(world.exports.len(), 1);
    let Some(WorldItem::Function(run)) = world.exports.get(&WorldKey::Name("run".to_owned()))
    else {
        panic!("no `run` export")
    };
    let params: Vec<String> = run
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, show(&resolve, &p.ty)))
        .collect();
    let wanted_params: Vec<String> = if manifest.inputs().is_empty() {
        vec![]
    } else {
        vec!["input: input".to_owned()]
    };
    assert_eq!(params, wanted_params);
    let ok = if manifest.outputs().is_empty() {
        "_"
    } else {
        "output"
    };
    assert_eq!(
        show(&resolve, run.result.as_ref().unwrap()),
        format!("result<{ok}, node-error>")
    );
}

#[test]
fn the_capabilities_package_resolves() {
    let mut resolve = Resolve::new();
    let package = resolve
        .push_source("wit/capabilities.wit", CAPABILITIES_WIT)
        .unwrap();
    assert_eq!(
        resolve.packages[package].name.to_string(),
        CAPABILITIES_PACKAGE
    );
    let interfaces: Vec<&str> = resolve.packages[package]
        .interfaces
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(interfaces, ["kv", "db"]);
    let functions = |name: &str| -> Vec<String> {
        resolve.interfaces[resolve.packages[package].interfaces[name]]
            .functions
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(functions("kv"), ["get", "list-keys", "set", "delete"]);
    assert_eq!(functions("db"), ["query", "execute"]);
}

#[test]
fn every_type() {
    let text = world_of(&yaml(
        &[
            ("text", "string"),
            ("flag", "bool"),
            ("count", "int"),
            ("ratio", "float"),
            ("blob", "bytes"),
            ("doc", "json"),
            ("texts", "list<string>"),
            ("maybe_flag", "optional<bool>"),
            ("maybe_count", "optional<int>"),
            ("maybe_ratio", "optional<float>"),
            ("maybe_blob", "optional<bytes>"),
            ("maybe_doc", "optional<json>"),
            ("blobs", "list<bytes>"),
            ("docs", "list<json>"),
        ],
        &[("ok", "bool"), ("total", "int"), ("payload", "bytes")],
        &[],
    ));
    insta::assert_snapshot!("every_type", text);
}

#[test]
fn deep_nesting() {
    let text = world_of(&yaml(
        &[
            ("pages", "list<optional<list<json>>>"),
            ("grid", "list<list<list<int>>>"),
            ("chunks", "optional<list<list<bytes>>>"),
            ("flags", "list<optional<list<optional<bool>>>>"),
        ],
        &[("rows", "list<list<optional<float>>>")],
        &[],
    ));
    insta::assert_snapshot!("deep_nesting", text);
}

#[test]
fn the_deepest_type_resolves() {
    let depth = ValueType::MAX_DEPTH;
    let mut ty = "string".to_owned();
    for level in 0..depth {
        ty = if level % 2 == 0 {
            format!("list<{ty}>")
        } else {
            format!("optional<{ty}>")
        };
    }
    world_of(&yaml(&[("deep", &ty)], &[("out", "string")], &[]));
}

#[test]
fn keywords_are_escaped() {
    // Every keyword that a connector.yaml name can spell.
    let names: Vec<String> = WIT_KEYWORDS.iter().map(|k| k.replace('-', "_")).collect();
    let inputs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "string")).collect();
    let text = world_of(&yaml(
        &inputs,
        &[
            ("type", "json"),
            ("result", "optional<string>"),
            ("input", "int"),
        ],
        &[],
    ));
    for keyword in WIT_KEYWORDS {
        assert!(
            text.contains(&format!("    %{keyword}: string,")),
            "{keyword}"
        );
    }
    insta::assert_snapshot!("keywords", text);
}

#[test]
fn names_with_digit_words_map_one_for_one() {
    let text = world_of(&yaml(
        &[
            ("page_2", "int"),
            ("v2_api_3x", "string"),
            ("a1_b2", "bool"),
        ],
        &[("item_0", "string")],
        &[],
    ));
    insta::assert_snapshot!("digit_words", text);
}

#[test]
fn names_without_a_wit_spelling_are_refused() {
    for (name, reason) in [
        ("_private", WitNameError::LeadingSeparator),
        ("page_", WitNameError::TrailingSeparator),
        ("page__size", WitNameError::EmptyWord),
    ] {
        let m = manifest(&yaml(&[("ok", "int")], &[(name, "int")], &[]));
        let error = wit::world(&m).unwrap_err();
        assert_eq!(
            error,
            WitError::FieldName {
                side: Side::Output,
                field: name.to_owned(),
                kebab: name.replace('_', "-"),
                reason,
            }
        );
        // The generated spelling would indeed not parse.
        let kebab = name.replace('_', "-");
        let broken = format!("package a:b;\nworld w {{\n  record r {{ {kebab}: s64 }}\n}}\n");
        assert!(
            Resolve::new().push_source("w.wit", &broken).is_err(),
            "{kebab}"
        );
    }
    let m = manifest(&yaml(&[("page__size", "int")], &[], &[]));
    let error = wit::world(&m).unwrap_err();
    assert_eq!(
        error.to_string(),
        "input `page__size` has no WIT name (`page--size`): a WIT name cannot have an empty word (from `__`)"
    );
    assert!(error.help().contains("`page_size`"), "{}", error.help());
}

#[test]
fn no_inputs() {
    let text = world_of(&yaml(&[], &[("now", "string")], &[Capability::Clock]));
    assert!(text.contains("export run: func() -> result<output, node-error>;"));
    insta::assert_snapshot!("no_inputs", text);
}

#[test]
fn no_outputs() {
    let text = world_of(&yaml(
        &[("key", "string"), ("value", "string")],
        &[],
        &[Capability::KvWrite],
    ));
    assert!(text.contains("export run: func(input: input) -> result<_, node-error>;"));
    insta::assert_snapshot!("no_outputs", text);
}

#[test]
fn neither_inputs_nor_outputs() {
    let text = world_of(&yaml(&[], &[], &[]));
    assert!(text.contains("export run: func() -> result<_, node-error>;"));
    insta::assert_snapshot!("neither", text);
}

#[test]
fn each_capability_alone() {
    for capability in Capability::ALL {
        let text = world_of(&yaml(&[("a", "string")], &[("b", "string")], &[capability]));
        insta::assert_snapshot!(
            format!("capability_{}", capability.as_str().replace('.', "_")),
            text
        );
    }
}

#[test]
fn all_capabilities() {
    let text = world_of(&yaml(
        &[("a", "string")],
        &[("b", "string")],
        &Capability::ALL,
    ));
    insta::assert_snapshot!("all_capabilities", text);
}

#[test]
fn without_wasi_only_latticeflow_interfaces_are_imported() {
    let manifest = manifest(&yaml(
        &[("a", "string")],
        &[("b", "string")],
        &Capability::ALL,
    ));
    let text = wit::world_with(&manifest, wit::WasiImports::FromToolchain).unwrap();
    // It still resolves, with the capabilities package alone.
    let (resolve, package) = resolve_with_deps(&text).unwrap();
    let world = resolve.select_world(&[package], Some("node")).unwrap();
    let imported: Vec<String> = resolve.worlds[world]
        .imports
        .keys()
        .filter_map(|k| match k {
            WorldKey::Interface(id) => resolve.id_of(*id),
            WorldKey::Name(_) => None,
        })
        .collect();
    assert_eq!(
        imported,
        [
            "latticeflow:capabilities/db@0.2.0",
            "latticeflow:capabilities/kv@0.2.0"
        ]
    );
    // The WASI interfaces are named in a comment, so the author knows.
    for interface in wit::imports(&Capability::ALL) {
        if interface.starts_with("wasi:") {
            assert!(text.contains(&format!("//   {interface}\n")), "{text}");
            assert!(!text.contains(&format!("import {interface};")), "{text}");
        }
    }
    // Without capabilities it is the world `world` writes.
    let plain = manifest_no_caps();
    assert_eq!(
        wit::world_with(&plain, wit::WasiImports::FromToolchain).unwrap(),
        wit::world(&plain).unwrap()
    );
}

fn manifest_no_caps() -> ConnectorManifest {
    manifest(&yaml(&[("a", "string")], &[("b", "string")], &[]))
}

#[test]
fn every_capability_combination_resolves() {
    let all = Capability::ALL;
    for mask in 0u32..(1 << all.len()) {
        let chosen: Vec<Capability> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, c)| *c)
            .collect();
        world_of(&yaml(&[("a", "string")], &[("b", "string")], &chosen));
    }
}

#[test]
fn version_and_errors_are_in_the_comments() {
    let text = world_of(
        "id: connector.acme.fetch\nversion: 1.4.0-rc.1\ninputs:\n  - name: url\n    type: string\noutputs:\n  - name: body\n    type: string\neffects: [http.read]\ndeterministic: false\ncapabilities: [http.read, http.write]\nerrors:\n  - code: not_found\n    retryable: false\n  - code: rate_limited\n    retryable: true\n",
    );
    insta::assert_snapshot!("version_and_errors", text);
}

#[test]
fn fixture_connectors() {
    for (name, yaml) in common::FIXTURES {
        insta::assert_snapshot!(format!("fixture_{name}"), world_of(yaml));
    }
}

#[test]
fn generation_is_deterministic() {
    let yaml = yaml(
        &[("a", "list<json>"), ("type", "int")],
        &[("b", "bytes")],
        &Capability::ALL,
    );
    let m = manifest(&yaml);
    assert_eq!(wit::world(&m).unwrap(), wit::world(&m).unwrap());
}
