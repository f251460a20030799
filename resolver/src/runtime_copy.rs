//! The `lf-runtime` crate this `lf-resolve` was built with, embedded by
//! `build.rs`: its sources verbatim and a standalone `Cargo.toml`.
//!
//! Generated wrapper crates need `lf-runtime`, and no public registry has it.
//! Unless `[generate] runtime` names another source, `generate` writes this
//! copy into the output directory (as `cargo vendor` would) and the generated
//! crates depend on it by relative path, so a project with its `vendor/`
//! directory builds anywhere, offline, outside this repository. The copy is
//! exactly the runtime this binary links, so generated code and runtime agree.

use std::path::Path;

use lf_wrapper_gen::{GeneratedFile, RUNTIME_CRATE_DIR};

include!(concat!(env!("OUT_DIR"), "/runtime_copy.rs"));

/// The files of the embedded `lf-runtime`, relative to its directory.
const FILES: &[(&str, &str)] = CRATES[0].1;

/// One embedded crate `publish` can put in a registry.
pub struct EmbeddedCrate {
    /// The crate name.
    pub name: &'static str,
    /// Its files, relative to its directory, `Cargo.toml` first.
    pub files: &'static [(&'static str, &'static str)],
}

/// Every embedded crate in dependency order, `lf-runtime` first: the runtime
/// and the SDK a native connector crate builds with (`lf-lockfile`,
/// `lf-wrapper-gen`, `lf-certify`).
pub fn crates() -> impl Iterator<Item = EmbeddedCrate> {
    CRATES
        .iter()
        .map(|(name, files)| EmbeddedCrate { name, files })
}

/// The files of the copy, below the output directory (`lf-runtime/...`).
pub fn files() -> impl Iterator<Item = GeneratedFile> {
    FILES.iter().map(|(path, contents)| GeneratedFile {
        path: Path::new(RUNTIME_CRATE_DIR).join(path),
        contents: (*contents).to_owned(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_copy_is_the_runtime_source_with_a_standalone_manifest() {
        let runtime = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime");
        let files: Vec<GeneratedFile> = files().collect();
        assert!(
            files
                .iter()
                .any(|f| f.path == Path::new("lf-runtime/src/lib.rs"))
        );
        for file in &files {
            let relative = file.path.strip_prefix(RUNTIME_CRATE_DIR).unwrap();
            if relative == Path::new("Cargo.toml") {
                continue;
            }
            let original = std::fs::read_to_string(runtime.join(relative)).unwrap();
            assert_eq!(file.contents, original, "{}", relative.display());
        }
        let on_disk = walk(&runtime.join("src"));
        assert_eq!(
            files.len(),
            on_disk + 1,
            "every file of runtime/src, and Cargo.toml"
        );

        let manifest = &files
            .iter()
            .find(|f| f.path == Path::new("lf-runtime/Cargo.toml"))
            .unwrap()
            .contents;
        assert!(!manifest.contains("workspace"), "{manifest}");
        let manifest: toml_edit::DocumentMut = manifest.parse().unwrap();
        assert_eq!(manifest["package"]["name"].as_str(), Some("lf-runtime"));
        assert_eq!(
            manifest["package"]["version"].as_str(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        for absent in ["dev-dependencies", "bench", "lints", "workspace"] {
            assert!(manifest.get(absent).is_none(), "{absent}");
        }
        let wasmtime = manifest["dependencies"]["wasmtime"]
            .as_inline_table()
            .unwrap();
        assert_eq!(
            wasmtime.get("optional").and_then(|v| v.as_bool()),
            Some(true)
        );
        assert_eq!(
            wasmtime.get("default-features").and_then(|v| v.as_bool()),
            Some(false)
        );
        assert!(manifest["features"]["host"].as_array().is_some());
    }

    #[test]
    fn the_sdk_crates_are_standalone_and_depend_on_each_other_by_exact_version() {
        let names: Vec<&str> = crates().map(|c| c.name).collect();
        assert_eq!(
            names,
            ["lf-runtime", "lf-lockfile", "lf-wrapper-gen", "lf-certify"]
        );
        let version = format!("={}", env!("CARGO_PKG_VERSION"));
        for embedded in crates() {
            assert_eq!(embedded.files[0].0, "Cargo.toml");
            let manifest: toml_edit::DocumentMut = embedded.files[0].1.parse().unwrap();
            assert_eq!(manifest["package"]["name"].as_str(), Some(embedded.name));
            let deps = manifest["dependencies"].as_table().unwrap();
            for (name, dep) in deps.iter() {
                let dep = dep.as_inline_table().unwrap();
                assert!(dep.get("path").is_none(), "{}: {name}", embedded.name);
                if name.starts_with("lf-") {
                    assert!(names.contains(&name), "{name}");
                    assert_eq!(
                        dep.get("version").and_then(|v| v.as_str()),
                        Some(version.as_str())
                    );
                }
            }
            for absent in ["dev-dependencies", "bench", "lints", "workspace"] {
                assert!(manifest.get(absent).is_none(), "{absent}");
            }
        }
        // lf-certify's contract schema travels inside the crate.
        let certify = crates().find(|c| c.name == "lf-certify").unwrap();
        let file = |path: &str| certify.files.iter().find(|f| f.0 == path).unwrap().1;
        assert!(file("src/contract.rs").contains("include_str!(\"../contract.schema.json\")"));
        let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/contract.schema.json");
        assert_eq!(
            file("contract.schema.json"),
            std::fs::read_to_string(schema).unwrap()
        );
    }

    fn walk(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    walk(&e.path())
                } else {
                    1
                }
            })
            .sum()
    }
}
