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
