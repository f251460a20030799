//! `lf-resolve new NAME --lang python|js|rust|native`: a connector directory
//! that builds and passes its own contract tests as written.
//!
//! A newcomer's first component should not start from a blank page and a
//! toolchain manual: the scaffold holds a manifest, the world generated from
//! it (by the same code as `lf-resolve wit`, so the two never disagree), one
//! worked example per language showing the ok path and a declared error, the
//! contract vectors that check both, and the build command with the flags the
//! manifest implies. Like `cargo new`, it refuses a directory that exists and
//! is not empty, and it creates every file itself (`create_new`), so nothing
//! is written through a symlink.
//!
//! `--lang native` is a plain Rust crate instead of a component: no world and
//! no build script of ours, but a `build.rs` calling `lf_wrapper_gen::native`,
//! so connector.yaml is turned into Rust on every `cargo build` (the module
//! docs there say why build time rather than a checked-in file). Its
//! `Cargo.toml` depends on `lf-runtime`, `lf-wrapper-gen` and (for its
//! certification test) `lf-certify`, from a source the author names: with
//! `--registry NAME` at exactly this binary's version from that cargo
//! registry (where `lf-resolve publish --registry NAME` puts them, so the
//! generated code and the runtime agree), or, with `--runtime-path`, by path
//! to a source tree of this repository. Never plain crates.io versions: the
//! crates are not published there, and a same-named crate would be built in.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use lf_runtime::spec::{Capability, ConnectorManifest};
use serde_json::json;

use crate::cli::{Lang, NewArgs};
use crate::error::CliError;
use crate::output::Printer;
use lf_wrapper_gen::wit::WasiImports;

const CONNECTOR_YAML: &str = include_str!("../../templates/new/common/connector.yaml");
const CONTRACT_YAML: &str = include_str!("../../templates/new/common/contract.yaml");
const GITIGNORE: &str = include_str!("../../templates/new/common/gitignore");
const README: &str = include_str!("../../templates/new/common/README.md");
const PY_APP: &str = include_str!("../../templates/new/python/app.py");
const PY_BUILD: &str = include_str!("../../templates/new/python/build.sh");
const JS_APP: &str = include_str!("../../templates/new/js/app.js");
const JS_BUILD: &str = include_str!("../../templates/new/js/build.sh");
const RS_CARGO: &str = include_str!("../../templates/new/rust/Cargo.toml");
const RS_LIB: &str = include_str!("../../templates/new/rust/lib.rs");
const RS_BUILD: &str = include_str!("../../templates/new/rust/build.sh");
const NATIVE_YAML: &str = include_str!("../../templates/new/native/connector.yaml");
const NATIVE_CARGO: &str = include_str!("../../templates/new/native/Cargo.toml");
const NATIVE_BUILD_RS: &str = include_str!("../../templates/new/native/build.rs");
const NATIVE_LIB: &str = include_str!("../../templates/new/native/lib.rs");
const NATIVE_CONTRACT_YAML: &str = include_str!("../../templates/new/native/contract.yaml");
const NATIVE_CERTIFY_RS: &str = include_str!("../../templates/new/native/certify.rs");
const NATIVE_README: &str = include_str!("../../templates/new/native/README.md");
const NATIVE_GITIGNORE: &str = include_str!("../../templates/new/native/gitignore");
/// The `kv` and `db` interfaces, for worlds that import them.
const CAPABILITIES_WIT: &str = include_str!("../../../wit/capabilities.wit");

/// The longest NAME accepted.
const MAX_NAME_LEN: usize = 64;

/// One file of the scaffold.
struct File {
    path: &'static str,
    content: String,
    executable: bool,
}

/// Runs `new`.
pub fn run(args: &NewArgs, printer: &Printer) -> Result<(), CliError> {
    check_name(&args.name)?;
    let dir = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| format!("connector.example.{}", args.name.replace('-', "_")));
    let mut capabilities: Vec<Capability> = args
        .capabilities
        .iter()
        .filter_map(|c| Capability::ALL.into_iter().find(|k| k.as_str() == c))
        .collect();
    capabilities.sort();
    capabilities.dedup();

    let files = if args.lang == Lang::Native {
        let deps = native_deps(args.runtime_path.as_deref(), args.registry.as_deref())?;
        scaffold_native(&args.name, &id, &capabilities, &deps)?
    } else {
        if args.runtime_path.is_some() || args.registry.is_some() {
            return Err(CliError::input(
                "`--runtime-path` and `--registry` are only for `--lang native`",
                Some(
                    "a component does not depend on lf-runtime; drop `--runtime-path` or `--registry`"
                        .to_owned(),
                ),
            ));
        }
        scaffold(&args.name, &id, args.lang, &capabilities)?
    };
    check_target(&dir)?;
    write_all(&dir, &files)?;

    // The world leaves WASI to the language runtime (`wit --no-wasi`):
    // JavaScript's `fetch` and Rust's `wasi` crate speak wasi:http, but
    // componentize-py's standard library has no HTTP client over it.
    if args.lang == Lang::Python
        && let Some(http) = capabilities
            .iter()
            .find(|c| matches!(c, Capability::HttpRead | Capability::HttpWrite))
    {
        printer.warning(format_args!(
            "`{http}` is declared, but a Python component has no HTTP client over wasi:http              yet (componentize-py's standard library cannot open connections); write              connectors that call HTTP in JavaScript (`fetch`) or Rust (the `wasi` crate)"
        ));
    }
    printer.status(
        "Created",
        format!(
            "{} connector `{id}` in {}\n{}",
            language(args.lang),
            dir.display(),
            next_steps(&dir, args.lang)
        ),
        &json!({"type": "new", "connector": id, "lang": language(args.lang), "path": dir}),
    );
    Ok(())
}

/// What to do next, for people.
fn next_steps(dir: &Path, lang: Lang) -> String {
    let tool = match lang {
        Lang::Python | Lang::Js => {
            "eval \"$(bash scripts/install-componentize.sh)\"   once: the pinned toolchains"
        }
        Lang::Rust => "rustup target add wasm32-wasip2                   once: the target",
        Lang::Native => {
            return format!(
                "\nNext steps:\n  cd {}\n  cargo test                          builds from connector.yaml, runs tests/contract.yaml",
                dir.display()
            );
        }
    };
    format!(
        "\nNext steps:\n  {tool}\n  cd {}\n  ./build.sh                          builds module.wasm\n  lf-resolve test .                   runs tests/contract.yaml\n  lf-resolve push . REGISTRY/REPO:0.1.0",
        dir.display()
    )
}

fn language(lang: Lang) -> &'static str {
    match lang {
        Lang::Python => "Python",
        Lang::Js => "JavaScript",
        Lang::Rust => "Rust",
        Lang::Native => "native Rust",
    }
}

fn check_name(name: &str) -> Result<(), CliError> {
    let mut chars = name.chars();
    let ok = name.len() <= MAX_NAME_LEN
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && !name.ends_with(['-', '_']);
    if ok {
        Ok(())
    } else {
        Err(CliError::input(
            format!("`{name}` is not a connector name"),
            Some(format!(
                "use lowercase letters, digits, `_` and `-`, starting with a letter, at most {MAX_NAME_LEN} characters (e.g. `greet` or `files-list`)"
            )),
        ))
    }
}

/// Every file, rendered and checked: the manifest parses and its world
/// generates, before anything is written.
fn scaffold(
    name: &str,
    id: &str,
    lang: Lang,
    capabilities: &[Capability],
) -> Result<Vec<File>, CliError> {
    let crate_name = name.replace('-', "_");
    let caps: Vec<&str> = capabilities.iter().map(|c| c.as_str()).collect();
    let deterministic = capabilities.iter().all(|c| *c == Capability::Log);
    let render = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{id}}", id)
            .replace("{{crate}}", &crate_name)
            .replace("{{capabilities}}", &caps.join(", "))
            .replace(
                "{{deterministic}}",
                if deterministic { "true" } else { "false" },
            )
    };
    let yaml = render(CONNECTOR_YAML);
    let manifest = ConnectorManifest::from_yaml(&yaml).map_err(|e| {
        CliError::input(
            format!("cannot make connector.yaml: {}", e.message()),
            args_help(),
        )
    })?;
    let world = lf_wrapper_gen::wit::world_with(&manifest, WasiImports::FromToolchain)
        .map_err(|e| CliError::input(format!("cannot make the WIT world: {e}"), None))?;

    let (source_path, source, build, ignore, toolchain) = match lang {
        Lang::Python => (
            "app.py",
            render(PY_APP),
            render(PY_BUILD),
            "__pycache__/\n",
            "componentize-py 0.25.1",
        ),
        Lang::Js => (
            "app.js",
            render(JS_APP),
            render(JS_BUILD).replace("{{disable}}", &js_disabled(capabilities).join(" ")),
            "node_modules/\n",
            "componentize-js 0.23.0",
        ),
        Lang::Rust => (
            "src/lib.rs",
            render(RS_LIB),
            render(RS_BUILD),
            "/target/\n",
            "cargo, target wasm32-wasip2",
        ),
        Lang::Native => {
            return Err(CliError::input(
                "a native connector is scaffolded by `scaffold_native`".to_owned(),
                None,
            ));
        }
    };
    let readme = render(README)
        .replace("{{language}}", language(lang))
        .replace("{{source}}", source_path)
        .replace("{{toolchain}}", toolchain);
    let mut files = vec![
        file("connector.yaml", yaml),
        file("wit/world.wit", world),
        file(source_path, source),
        file("tests/contract.yaml", render(CONTRACT_YAML)),
        File {
            path: "build.sh",
            content: build,
            executable: true,
        },
        file(
            ".gitignore",
            render(GITIGNORE).replace("{{ignore}}", ignore),
        ),
        file("README.md", readme),
    ];
    if lang == Lang::Rust {
        files.push(file("Cargo.toml", render(RS_CARGO)));
    }
    if capabilities.iter().any(|c| {
        matches!(
            c,
            Capability::KvRead | Capability::KvWrite | Capability::DbRead | Capability::DbWrite
        )
    }) {
        files.push(file(
            "wit/deps/latticeflow-capabilities/capabilities.wit",
            CAPABILITIES_WIT.to_owned(),
        ));
    }
    Ok(files)
}

/// The dependency lines of a native scaffold: lf-runtime, lf-wrapper-gen
/// (build) and lf-certify (dev).
#[derive(Debug)]
struct NativeDeps {
    runtime: String,
    wrapper_gen: String,
    certify: String,
    /// The manifest's `publish` value.
    publish: String,
}

/// By version, at exactly this binary's version from cargo registry
/// `registry` when given (and published only there), or by absolute path
/// into the lf-resolve source tree `source`, which must hold the crates.
fn native_deps(source: Option<&Path>, registry: Option<&str>) -> Result<NativeDeps, CliError> {
    if let Some(registry) = registry {
        crate::crate_index::check_name(registry).map_err(|e| {
            CliError::input(
                e.to_string(),
                Some("`--registry` takes the name of a registry in `.cargo/config.toml` (`[registries.NAME]`)".to_owned()),
            )
        })?;
        let version = toml_str(&format!("={}", env!("CARGO_PKG_VERSION")));
        let registry = toml_str(registry);
        let dep = |name: &str| format!("{name} = {{ version = {version}, registry = {registry} }}");
        return Ok(NativeDeps {
            runtime: dep("lf-runtime"),
            wrapper_gen: dep("lf-wrapper-gen"),
            certify: dep("lf-certify"),
            publish: format!("[{registry}]"),
        });
    }
    // Never plain crates.io versions: these crates are not published there,
    // and a crate of the same name published by someone else would be built
    // into the connector (dependency confusion). The source must be named.
    let Some(source) = source else {
        return Err(CliError::input(
            "a native connector builds against lf-runtime, lf-wrapper-gen and lf-certify, which are not on crates.io: say where they come from".to_owned(),
            Some("`--registry NAME` takes them from a cargo registry that `lf-resolve publish --registry NAME` filled; `--runtime-path DIR` from a checkout of lf-resolve".to_owned()),
        ));
    };
    let source = std::fs::canonicalize(source).map_err(|source_err| CliError::Io {
        context: "cannot find",
        path: source.to_owned(),
        source: source_err,
    })?;
    let mut paths = Vec::new();
    for (krate, dir) in [
        ("lf-runtime", "runtime"),
        ("lf-wrapper-gen", "wrapper-gen"),
        ("lf-certify", "certify"),
    ] {
        let path = source.join(dir);
        if !path.join("Cargo.toml").is_file() {
            return Err(CliError::input(
                format!(
                    "`{}` holds no `{dir}/Cargo.toml`, so it is not an lf-resolve source tree",
                    source.display()
                ),
                Some(format!(
                    "give `--runtime-path` the folder of a checkout of this repository (it holds the `{krate}` crate in `{dir}/`)"
                )),
            ));
        }
        let Some(text) = path.to_str() else {
            return Err(CliError::input(
                format!(
                    "`{}` is not UTF-8, so Cargo.toml cannot name it",
                    path.display()
                ),
                None,
            ));
        };
        paths.push(toml_str(text));
    }
    Ok(NativeDeps {
        runtime: format!("lf-runtime = {{ path = {} }}", paths[0]),
        wrapper_gen: format!("lf-wrapper-gen = {{ path = {} }}", paths[1]),
        certify: format!("lf-certify = {{ path = {} }}", paths[2]),
        publish: "false".to_owned(),
    })
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The files of a native connector crate, checked: the manifest parses and
/// generates, before anything is written.
fn scaffold_native(
    name: &str,
    id: &str,
    capabilities: &[Capability],
    deps: &NativeDeps,
) -> Result<Vec<File>, CliError> {
    let crate_name = name.replace('-', "_");
    let caps: Vec<&str> = capabilities.iter().map(|c| c.as_str()).collect();
    let deterministic = capabilities.iter().all(|c| *c == Capability::Log);
    let connector_id: lf_runtime::spec::ConnectorId = id
        .parse()
        .map_err(|e| CliError::input(format!("cannot make connector.yaml: {e}"), args_help()))?;
    let node = connector_id.node().to_owned();
    let camel = lf_wrapper_gen::camel_case(&node);
    let render = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{id}}", id)
            .replace("{{crate}}", &crate_name)
            .replace("{{node}}", &node)
            .replace("{{Node}}", &camel)
            .replace("{{capabilities}}", &caps.join(", "))
            .replace(
                "{{deterministic}}",
                if deterministic { "true" } else { "false" },
            )
            .replace("{{runtime}}", &deps.runtime)
            .replace("{{wrapper_gen}}", &deps.wrapper_gen)
            .replace("{{certify}}", &deps.certify)
            .replace("{{publish}}", &deps.publish)
    };
    if lf_wrapper_gen::RUST_KEYWORDS.contains(&camel.as_str()) || camel.is_empty() {
        return Err(CliError::input(
            format!("the node name `{node}` cannot name a Rust type"),
            args_help(),
        ));
    }
    let yaml = render(NATIVE_YAML);
    let manifest = ConnectorManifest::from_yaml(&yaml).map_err(|e| {
        CliError::input(
            format!("cannot make connector.yaml: {}", e.message()),
            args_help(),
        )
    })?;
    lf_wrapper_gen::native::generate_native(&manifest)
        .map_err(|e| CliError::input(format!("cannot generate the node: {e}"), None))?;
    Ok(vec![
        file("connector.yaml", yaml),
        file("Cargo.toml", render(NATIVE_CARGO)),
        file("build.rs", render(NATIVE_BUILD_RS)),
        file("src/lib.rs", render(NATIVE_LIB)),
        file("tests/contract.yaml", render(NATIVE_CONTRACT_YAML)),
        file("tests/certify.rs", render(NATIVE_CERTIFY_RS)),
        file(".gitignore", render(NATIVE_GITIGNORE)),
        file("README.md", render(NATIVE_README)),
    ])
}

fn args_help() -> Option<String> {
    Some(
        "`--id` must be `connector.<vendor>[.<group>...].<node>`, segments `[a-z][a-z0-9_]*`"
            .to_owned(),
    )
}

fn file(path: &'static str, content: String) -> File {
    File {
        path,
        content,
        executable: false,
    }
}

/// The componentize-js features to disable: every one the capabilities do
/// not need, and always `fetch-event` (a connector serves no HTTP).
fn js_disabled(capabilities: &[Capability]) -> Vec<&'static str> {
    let has = |pred: fn(&Capability) -> bool| capabilities.iter().any(pred);
    let mut out = Vec::new();
    if !has(|c| *c == Capability::Log) {
        out.push("stdio");
    }
    if !has(|c| *c == Capability::Random) {
        out.push("random");
    }
    if !has(|c| *c == Capability::Clock) {
        out.push("clocks");
    }
    if !has(|c| matches!(c, Capability::HttpRead | Capability::HttpWrite)) {
        out.push("http");
    }
    out.push("fetch-event");
    out
}

/// Refuses a target that is a symlink, a file, or a non-empty directory.
fn check_target(dir: &Path) -> Result<(), CliError> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CliError::Io {
            context: "cannot inspect",
            path: dir.to_owned(),
            source,
        }),
        Ok(meta) if meta.file_type().is_symlink() => Err(CliError::input(
            format!(
                "`{}` is a symlink; refusing to write through it",
                dir.display()
            ),
            Some("give the path of a new directory".to_owned()),
        )),
        Ok(meta) if !meta.is_dir() => Err(CliError::input(
            format!("`{}` exists and is not a directory", dir.display()),
            Some("give the path of a new directory with `--path`".to_owned()),
        )),
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir).map_err(|source| CliError::Io {
                context: "cannot read",
                path: dir.to_owned(),
                source,
            })?;
            if entries.next().is_some() {
                Err(CliError::input(
                    format!("`{}` already exists and is not empty", dir.display()),
                    Some("give the path of a new or empty directory with `--path`".to_owned()),
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// Writes the files below `dir`, each created new (never replacing or
/// following anything already there). On failure the directory is left as
/// the error says; nothing outside it is touched.
fn write_all(dir: &Path, files: &[File]) -> Result<(), CliError> {
    let io = |context: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| CliError::Io {
            context,
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    for f in files {
        let path = dir.join(f.path);
        if let Some(parent) = path.parent() {
            create_dirs_below(dir, parent)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(if f.executable { 0o755 } else { 0o644 });
        }
        let mut out = options.open(&path).map_err(io("cannot create", &path))?;
        out.write_all(f.content.as_bytes())
            .and_then(|()| out.sync_all())
            .map_err(io("cannot write", &path))?;
    }
    Ok(())
}

/// Creates `target` and its parents up to `root`, refusing a symlink on the
/// way (a directory made by someone else between the check and the write).
fn create_dirs_below(root: &Path, target: &Path) -> Result<(), CliError> {
    let Ok(rest) = target.strip_prefix(root) else {
        return Ok(());
    };
    let mut at = root.to_path_buf();
    for part in rest.components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(CliError::input(
                    format!(
                        "`{}` is a symlink; refusing to write through it",
                        at.display()
                    ),
                    None,
                ));
            }
            Ok(_) => {}
            Err(_) => std::fs::create_dir(&at).map_err(|source| CliError::Io {
                context: "cannot create",
                path: at.clone(),
                source,
            })?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_disables_what_is_not_declared() {
        assert_eq!(
            js_disabled(&[]),
            ["stdio", "random", "clocks", "http", "fetch-event"]
        );
        assert_eq!(
            js_disabled(&[Capability::HttpRead, Capability::Clock]),
            ["stdio", "random", "fetch-event"]
        );
    }

    #[test]
    fn names() {
        for ok in ["greet", "files-list", "a1_b"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Greet", "1x", "x-", "a/b", "../x", "a.b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn native_needs_a_named_source_and_checks_a_source_tree() {
        // No plain crates.io versions: a crate of the same name there would
        // be built into the connector.
        let err = native_deps(None, None).err().unwrap();
        assert!(err.to_string().contains("not on crates.io"), "{err}");
        let files = scaffold_native(
            "greet",
            "connector.acme.text.greet",
            &[Capability::KvRead],
            &native_deps(None, Some("lftest")).unwrap(),
        )
        .unwrap();
        let get = |path: &str| &files.iter().find(|f| f.path == path).unwrap().content;
        assert!(get("src/lib.rs").contains("impl GreetNode for Greet"));
        assert!(get("tests/certify.rs").contains("greet::greet_register(&mut registry)"));
        assert!(get("connector.yaml").contains("capabilities: [kv.read]"));
        assert!(files.iter().all(|f| !f.content.contains("{{")));

        let tmp = tempfile::tempdir().unwrap();
        let err = native_deps(Some(tmp.path()), None).unwrap_err();
        assert!(
            err.to_string().contains("not an lf-resolve source tree"),
            "{err}"
        );
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let deps = native_deps(Some(root), None).unwrap();
        assert!(deps.certify.contains("certify\" }"), "{}", deps.certify);
    }

    #[test]
    fn native_with_a_registry_depends_on_the_exact_version_there() {
        let files = scaffold_native(
            "greet",
            "connector.acme.text.greet",
            &[],
            &native_deps(None, Some("lftest")).unwrap(),
        )
        .unwrap();
        let cargo = &files
            .iter()
            .find(|f| f.path == "Cargo.toml")
            .unwrap()
            .content;
        let manifest: toml_edit::DocumentMut = cargo.parse().unwrap();
        let version = format!("={}", env!("CARGO_PKG_VERSION"));
        for (table, dep) in [
            ("dependencies", "lf-runtime"),
            ("build-dependencies", "lf-wrapper-gen"),
            ("dev-dependencies", "lf-certify"),
        ] {
            let dep = &manifest[table][dep];
            assert_eq!(dep["version"].as_str(), Some(version.as_str()), "{cargo}");
            assert_eq!(dep["registry"].as_str(), Some("lftest"), "{cargo}");
        }
        let publish = manifest["package"]["publish"].as_array().unwrap();
        assert_eq!(publish.get(0).and_then(|v| v.as_str()), Some("lftest"));

        let err = native_deps(None, Some("not a name")).unwrap_err();
        assert!(err.to_string().contains("not a name"), "{err}");
    }

    #[test]
    fn native_refuses_a_node_that_cannot_name_a_type() {
        let err = scaffold_native(
            "x",
            "connector.acme.self",
            &[],
            &native_deps(None, Some("lftest")).unwrap(),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("cannot name a Rust type"), "{err}");
    }

    #[test]
    fn every_language_scaffolds_a_valid_manifest() {
        for lang in [Lang::Python, Lang::Js, Lang::Rust] {
            let files = scaffold("greet", "connector.example.greet", lang, &[]).unwrap();
            assert!(files.iter().all(|f| !f.content.contains("{{")));
        }
    }
}
