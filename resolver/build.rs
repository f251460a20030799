//! Embeds the `lf-runtime` crate this binary is built with, so that
//! `generate` can write it beside the generated crates and they build with no
//! registry holding `lf-runtime` (see `src/runtime_copy.rs`); and with it the
//! connector SDK crates a native connector crate builds against
//! (`lf-lockfile`, `lf-wrapper-gen`, `lf-certify`), so that `publish` can put
//! all of them in a cargo registry. One mechanism for every embedded crate.
//!
//! Writes `$OUT_DIR/runtime_copy.rs`: each crate's `src/**` by `include_str!`
//! (so cargo and rustc track every file), and a standalone `Cargo.toml` with
//! everything it inherited from the workspace written out, workspace crates
//! as exact versions, and without what only building it here needs
//! (dev-dependencies, benches, lints).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, Value};

/// The crates embedded, in dependency order: `(name, directory)`. The first
/// is the runtime `generate` writes; all of them are what `publish` puts in a
/// registry for native connector crates (`lf-wrapper-gen` builds their node
/// from `connector.yaml`, `lf-certify` runs their certification test).
const CRATES: &[(&str, &str)] = &[
    ("lf-runtime", "runtime"),
    ("lf-lockfile", "lockfile"),
    ("lf-wrapper-gen", "wrapper-gen"),
    ("lf-certify", "certify"),
];

/// Files a crate reads from outside its directory, by a literal
/// `include_str!` path in one of its sources: `(crate, source, literal,
/// file in the workspace)`. The copy carries the file at its crate root and
/// the source says `../<file name>` instead.
const OUTSIDE: &[(&str, &str, &str, &str)] = &[(
    "lf-certify",
    "src/contract.rs",
    "\"../../docs/contract.schema.json\"",
    "docs/contract.schema.json",
)];

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("the resolver crate sits in the workspace")
        .to_owned();
    println!(
        "cargo::rerun-if-changed={}",
        workspace.join("Cargo.toml").display()
    );
    let workspace_manifest = read(&workspace.join("Cargo.toml"));
    let out = PathBuf::from(env("OUT_DIR"));
    let mut code = String::from(
        "/// The embedded crates in dependency order: name, and its files relative\n\
         /// to its directory (`Cargo.toml` first, then sorted).\n\
         pub(crate) const CRATES: &[(&str, &[(&str, &str)])] = &[\n",
    );
    for (name, dir) in CRATES {
        let root = workspace.join(dir);
        println!("cargo::rerun-if-changed={}", root.join("src").display());
        println!(
            "cargo::rerun-if-changed={}",
            root.join("Cargo.toml").display()
        );
        // The copy is `src/**` and a manifest: a build script or files
        // outside `src/` would not travel with it.
        assert!(
            !root.join("build.rs").exists(),
            "{dir}/build.rs would not be part of the {name} copy; teach resolver/build.rs to embed it"
        );
        let manifest =
            standalone_manifest(name, &read(&root.join("Cargo.toml")), &workspace_manifest);
        let manifest_path = out.join(format!("{name}.Cargo.toml"));
        std::fs::write(&manifest_path, manifest).expect("write a standalone manifest");
        writeln!(code, "    ({name:?}, &[").expect("write to a String");
        writeln!(
            code,
            "        (\"Cargo.toml\", include_str!({:?})),",
            path_str(&manifest_path)
        )
        .expect("write to a String");

        let mut sources = Vec::new();
        collect(&root.join("src"), &mut sources);
        sources.sort();
        for source in &sources {
            let relative = source
                .strip_prefix(&root)
                .expect("below the crate directory")
                .components()
                .map(|c| c.as_os_str().to_str().expect("UTF-8 source paths"))
                .collect::<Vec<_>>()
                .join("/");
            let mut path = source.clone();
            for (krate, file, literal, outside) in OUTSIDE {
                if krate != name || *file != relative {
                    continue;
                }
                let text = read(source);
                assert!(
                    text.contains(literal),
                    "{dir}/{file} no longer says include_str!({literal}); update OUTSIDE in resolver/build.rs"
                );
                let outside = workspace.join(outside);
                println!("cargo::rerun-if-changed={}", outside.display());
                let base = outside
                    .file_name()
                    .and_then(|n| n.to_str())
                    .expect("a UTF-8 file name");
                path = out.join(format!("{name}.{}", relative.replace('/', ".")));
                std::fs::write(&path, text.replace(literal, &format!("\"../{base}\"")))
                    .expect("write a rewritten source");
                writeln!(
                    code,
                    "        ({base:?}, include_str!({:?})),",
                    path_str(&outside)
                )
                .expect("write to a String");
            }
            writeln!(
                code,
                "        ({relative:?}, include_str!({:?})),",
                path_str(&path)
            )
            .expect("write to a String");
        }
        code.push_str("    ]),\n");
    }
    code.push_str("];\n");
    std::fs::write(out.join("runtime_copy.rs"), code).expect("write runtime_copy.rs");
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 build paths")
}

/// Every regular file below `dir`; anything else is refused, so the copy is
/// exactly what the runtime is built from.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("read a directory entry");
        let kind = entry.file_type().expect("file type");
        let path = entry.path();
        if kind.is_dir() {
            collect(&path, out);
        } else if kind.is_file() {
            out.push(path);
        } else {
            panic!("{} is neither a file nor a directory", path.display());
        }
    }
}

/// `runtime/Cargo.toml` with its `workspace = true` keys resolved against
/// the workspace manifest.
fn standalone_manifest(krate: &str, runtime: &str, workspace: &str) -> String {
    let runtime: DocumentMut = runtime
        .parse()
        .unwrap_or_else(|e| panic!("the manifest of {krate} parses: {e}"));
    let workspace: DocumentMut = workspace.parse().expect("Cargo.toml parses");
    let ws_version = workspace["workspace"]["package"]["version"]
        .as_str()
        .expect("workspace.package.version")
        .to_owned();
    let ws_package = workspace["workspace"]["package"]
        .as_table_like()
        .expect("[workspace.package]");
    let ws_deps = workspace["workspace"]["dependencies"]
        .as_table_like()
        .expect("[workspace.dependencies]");

    let mut doc = DocumentMut::new();
    let mut package = Table::new();
    for (key, item) in runtime["package"]
        .as_table_like()
        .expect("[package]")
        .iter()
    {
        let value = if is_inherited(item) {
            ws_package
                .get(key)
                .and_then(Item::as_value)
                .unwrap_or_else(|| panic!("workspace.package.{key}"))
                .clone()
        } else {
            item.as_value()
                .unwrap_or_else(|| panic!("package.{key} is a value"))
                .clone()
        };
        package.insert(key, Item::Value(plain(value)));
    }
    doc.insert("package", Item::Table(package));

    if let Some(features) = runtime.get("features").and_then(Item::as_table_like) {
        let mut table = Table::new();
        for (key, item) in features.iter() {
            let value = item.as_value().expect("a feature is a list").clone();
            table.insert(key, Item::Value(plain(value)));
        }
        doc.insert("features", Item::Table(table));
    }

    let mut deps = Table::new();
    for (name, item) in runtime["dependencies"]
        .as_table_like()
        .expect("[dependencies]")
        .iter()
    {
        let own = item.as_table_like();
        let mut dep = InlineTable::new();
        if is_inherited(item) {
            match ws_deps
                .get(name)
                .unwrap_or_else(|| panic!("workspace dependency {name}"))
            {
                Item::Value(Value::String(version)) => {
                    dep.insert("version", Value::from(version.value().as_str()));
                }
                other => {
                    let table = other.as_table_like().expect("a dependency table");
                    assert!(
                        table.get("git").is_none(),
                        "{krate}'s dependency {name} must not come from git to be copied"
                    );
                    // A workspace crate: the same version, which `publish`
                    // takes from the registry it publishes to.
                    if table.get("path").is_some() {
                        assert!(
                            CRATES.iter().any(|(n, _)| *n == name),
                            "{krate}'s dependency {name} is a workspace crate that is not embedded"
                        );
                        dep.insert("version", Value::from(format!("={ws_version}")));
                    }
                    for (key, value) in table.iter().filter(|(k, _)| *k != "path") {
                        dep.insert(key, plain(value.as_value().expect("a value").clone()));
                    }
                }
            }
        } else {
            match item {
                Item::Value(Value::String(version)) => {
                    dep.insert("version", Value::from(version.value().as_str()));
                }
                _ => {
                    let table = own.unwrap_or_else(|| panic!("dependency {name} as a table"));
                    assert!(
                        table.get("path").is_none() && table.get("git").is_none(),
                        "{krate}'s dependency {name} must come from crates.io to be copied"
                    );
                    for (key, value) in table.iter() {
                        dep.insert(key, plain(value.as_value().expect("a value").clone()));
                    }
                }
            }
        }
        if let Some(own) = own {
            for (key, value) in own.iter() {
                match key {
                    "workspace" => {}
                    "features" => {
                        let mut all: Vec<String> = dep
                            .get("features")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .chain(value.as_array().into_iter().flatten())
                            .filter_map(|f| f.as_str().map(str::to_owned))
                            .collect();
                        all.sort();
                        all.dedup();
                        dep.insert("features", Value::Array(all.into_iter().collect::<Array>()));
                    }
                    _ => {
                        dep.insert(key, plain(value.as_value().expect("a value").clone()));
                    }
                }
            }
        }
        deps.insert(name, Item::Value(Value::InlineTable(dep)));
    }
    doc.insert("dependencies", Item::Table(deps));

    format!(
        "# Written by `lf-resolve generate`: the {krate} that lf-resolve was built\n\
         # with, so that the generated crates beside it build with no registry.\n\
         # Set `[generate] runtime` in latticeflow.toml to use another one. Do not edit.\n\
         {doc}"
    )
}

/// `key.workspace = true` or `key = { workspace = true, ... }`.
fn is_inherited(item: &Item) -> bool {
    item.as_table_like()
        .and_then(|t| t.get("workspace"))
        .and_then(Item::as_bool)
        == Some(true)
}

/// The value without the comments and spacing of its source.
fn plain(mut value: Value) -> Value {
    value.decor_mut().clear();
    if let Value::Array(array) = &mut value {
        for item in array.iter_mut() {
            item.decor_mut().clear();
        }
        array.set_trailing("");
        array.set_trailing_comma(false);
    }
    value.decor_mut().clear();
    value
}
