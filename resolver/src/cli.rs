//! The command line as clap sees it: types only, no behaviour.
//!
//! Raw arguments are turned into checked [`crate::settings::Settings`] before a
//! command runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit status:
  0  success
  1  the check failed: the lock is missing or stale under --locked, or content
     does not verify (digest mismatch, not a connector, ungranted capability)
  2  the command could not run: bad arguments, an invalid latticeflow.toml or
     latticeflow.lock, a missing file, or an I/O error
  3  a registry could not be reached or refused access, or content needed
     with --offline is not in the store";

/// Resolve, verify and vendor latticeflow connectors published as OCI artifacts.
///
/// A project lists its connectors in `latticeflow.toml`; `lf-resolve` pins them
/// to exact digests in `latticeflow.lock`.
///
/// The formats and contracts are described in the `docs/` directory of the
/// lf-resolve repository: project-files.md (latticeflow.toml and
/// latticeflow.lock), artifact.md (the OCI artifact, connector.yaml,
/// signatures), abi.md (how a module is called) and capabilities.md.
#[derive(Debug, Parser)]
#[command(name = "lf-resolve", version, after_long_help = EXIT_CODES, after_help = EXIT_CODES)]
#[command(propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Options that apply to every command.
    #[command(flatten)]
    pub global: GlobalArgs,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options that apply to every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Path to `latticeflow.toml` [default: the nearest one in this directory or above]
    #[arg(long, global = true, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,

    /// Directory of the content store [default: the platform cache dir + `latticeflow/oci-v1`]
    #[arg(long, global = true, env = "LF_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// More output; repeat for more (`-vv` shows debug logs)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// No output except errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// When to use colours
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Output format: `human` prose on stderr, or `json`: one JSON object per line on stdout
    #[arg(long, global = true, value_enum, default_value_t = MessageFormat::Human, value_name = "FMT")]
    pub message_format: MessageFormat,
}

/// When to use colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When writing to a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// How results and errors are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    /// Prose for people, on stderr.
    Human,
    /// One JSON object per line, on stdout.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a `latticeflow.toml` in the current directory
    Init(InitArgs),
    /// Add a connector to `latticeflow.toml`, or update its reference and capabilities
    ///
    /// The file is edited in place: comments and layout are kept. REF is
    /// looked up in its registry first (one HEAD request, through mirrors);
    /// a missing tag or repository leaves the file untouched (exit 3).
    /// `--offline` skips the check. Run `lf-resolve lock` afterwards to pin
    /// the new connector.
    #[command(
        after_help = "Examples:\n  lf-resolve add drive_files ghcr.io/acme/drive-files:0.3 --capability http.read\n  lf-resolve add counter localhost:5000/lf/kv-counter@sha256:<hex> -c kv.read -c kv.write"
    )]
    Add(AddArgs),
    /// Remove a connector from `latticeflow.toml`
    Remove(RemoveArgs),
    /// Check `latticeflow.toml` and `latticeflow.lock` without touching the network
    ///
    /// Validates both files and the files they name, and reports every reason
    /// the lock does not satisfy the configuration. Exits 1 when the lock is
    /// missing or stale.
    Check(CheckArgs),
    /// Resolve every connector to a digest, download and verify it, and write `latticeflow.lock`
    ///
    /// Connectors already in the lock stay pinned to their digest (even if
    /// their tag moved) unless `--update NAME` is given or their entry in
    /// `latticeflow.toml` changed. The lock is written only when its content
    /// changes, and only when every connector passed.
    #[command(
        after_help = "Examples:\n  lf-resolve lock                  resolve new or changed connectors\n  lf-resolve lock --update drive   move `drive` to what its tag names now\n  lf-resolve lock --locked         CI: fail if the lock is stale; no network when the store is warm"
    )]
    Lock(LockArgs),
    /// Download everything the lock names into the store, by digest only
    Fetch(FetchArgs),
    /// Re-hash every locked blob and re-verify every stored signature (offline)
    Verify(VerifyArgs),
    /// Write the wrapper crates of the locked connectors (default `vendor/crates`)
    ///
    /// One crate per connector vendor with typed Input/Output structs and the
    /// module embedded from `vendor/oci` (vendored first when needed), plus
    /// the umbrella crate `latticeflow_connectors` with `register_all` and one
    /// cargo feature per connector. `--check` exits 1 when the files on disk
    /// differ (for CI).
    Generate(GenerateArgs),
    /// Publish the wrapper crates of the locked connectors to a cargo registry
    ///
    /// Each vendor crate is packaged with its modules inside (the locked
    /// digest is still checked before a module is first instantiated), at a
    /// version derived from its connectors' versions, and published with
    /// `cargo publish --registry NAME` after the `lf-runtime` it depends on
    /// (when the registry lacks that version). The registry is the one cargo
    /// knows as NAME (`[registries.NAME]` in `.cargo/config.toml`, sparse
    /// index); its token is cargo's business. A version already published
    /// with the same content is skipped; with other content, refused.
    #[command(
        after_help = "Examples:\n  lf-resolve publish --registry acme --dry-run   package and show what would be published\n  lf-resolve publish --registry acme"
    )]
    Publish(PublishArgs),
    /// Copy exactly the locked artifacts into an OCI layout (default `vendor/oci`)
    ///
    /// Manifests, configs, modules and signature artifacts, each re-hashed as
    /// it is copied; anything the lock does not name is removed. When
    /// `vendor/oci` exists, `lock --offline`/`--frozen` and `verify` use it.
    ///
    /// With `--archive FILE`, the same layout is written as one tar file
    /// (the same lock gives the same bytes) to carry to a machine without
    /// registry access, where `lock --from-archive FILE` or `fetch
    /// --from-archive FILE` imports it, verifying every blob.
    #[command(
        after_help = "Examples:\n  lf-resolve vendor                          write vendor/oci\n  lf-resolve vendor --archive bundle.tar     one reproducible tar for an air-gapped machine"
    )]
    Vendor(VendorArgs),
    /// Copy the locked artifacts, signatures included, to another registry
    ///
    /// Manifests, configs, modules, `.sig` signatures, referrers and the
    /// referrers tag fallback are copied byte for byte (digests unchanged) to
    /// DEST, into `[PREFIX/]<origin repository>`. What DEST already has is
    /// skipped, so a rerun completes an interrupted mirror. A project then
    /// locks from DEST with `[registries."<origin>"] mirrors = ["DEST[/PREFIX]"]`.
    #[command(
        after_help = "Examples:\n  lf-resolve mirror mirror.internal:5000 --dry-run\n  lf-resolve mirror mirror.internal:5000/copies -j 8"
    )]
    Mirror(MirrorArgs),
    /// Publish a connector directory (connector.yaml + module.wasm or module.wat)
    ///
    /// Validates the manifest, checks the module's imports and exports against
    /// it, embeds it as the `latticeflow.connector` custom section, and pushes
    /// the CNCF Wasm artifact. Prints the manifest digest.
    ///
    /// The digest depends only on the directory and the annotations given,
    /// never on REF: pushing the same directory as `repo:1.0`, `repo:latest`
    /// or to another repository gives the same digest, so one signature
    /// covers them all. The version annotation comes from `version` in
    /// connector.yaml (or `--annotation`), not from the tag.
    #[command(
        after_help = "Examples:\n  lf-resolve push connectors/text-upper ghcr.io/acme/text-upper:1.0\n  lf-resolve tag ghcr.io/acme/text-upper:1.0 latest      another tag, same digest"
    )]
    Push(PushArgs),
    /// Give a pushed artifact another tag in the same repository (digest unchanged)
    ///
    /// Reads the manifest SRC names (a tag or `@sha256:<hex>`, which must
    /// exist) and puts the same bytes under NEW-TAG, like `oras tag`. Prints
    /// the digest, which is SRC's.
    #[command(after_help = "Example:\n  lf-resolve tag ghcr.io/acme/text-upper:1.0 latest")]
    Tag(TagArgs),
    /// Sign a pushed connector with a cosign key (cosign-compatible)
    ///
    /// By default adds a simple-signing signature to the `sha256-<hex>.sig`
    /// tag, next to those already there. `--bundle` attaches a sigstore v0.3
    /// bundle as an OCI 1.1 referrer (with the `sha256-<hex>` tag fallback
    /// for registries without the referrers API). The key's password comes
    /// from COSIGN_PASSWORD, or a prompt on a terminal.
    #[command(
        after_help = "Example:\n  COSIGN_PASSWORD=... lf-resolve sign ghcr.io/acme/text-upper:1.0 --key cosign.key"
    )]
    Sign(SignArgs),
    /// Write a cosign-compatible key pair (`cosign.key`, `cosign.pub`)
    GenerateKey(GenerateKeyArgs),
    /// Show a connector artifact: digests, annotations, imports, connector.yaml and signatures
    ///
    /// Each signature and certification found is verified against the keys
    /// (or keyless identity) the project trusts, and its signer is named.
    /// With `--offline`, only the content store and `vendor/oci` are read.
    #[command(
        after_help = "Examples:\n  lf-resolve inspect ghcr.io/acme/text-upper:1.0\n  lf-resolve inspect drive_files --offline    a locked connector, from the store"
    )]
    Inspect(InspectArgs),
    /// Show what latticeflow.lock pins: per connector its ref, digest, ABI,
    /// capabilities, hosts, signer and certification (no network)
    #[command(visible_alias = "tree")]
    List(ListArgs),
    /// Report connectors whose tag moved to another digest, or that have newer
    /// semver tags (HEAD and tag-list requests only; writes nothing)
    ///
    /// For a moved tag, the signatures of the new digest are checked against
    /// the keys the project trusts. `--exit-code` exits 1 when anything
    /// moved or is newer, for CI.
    #[command(
        after_help = "Examples:\n  lf-resolve outdated\n  lf-resolve outdated --exit-code     CI: exit 1 when a tag moved or a newer one exists"
    )]
    Outdated(OutdatedArgs),
    /// Store registry credentials in docker's config.json (password on stdin)
    ///
    /// The credentials are checked against the registry first (`GET /v2/`),
    /// then written to `$DOCKER_CONFIG/config.json` (or `~/.docker/config.json`),
    /// where docker, podman and oras find them too.
    #[command(
        after_help = "Example:\n  echo \"$GITHUB_TOKEN\" | lf-resolve login ghcr.io -u octocat --password-stdin"
    )]
    Login(LoginArgs),
    /// Remove stored registry credentials from docker's config.json
    Logout(LogoutArgs),
    /// Print the WIT world of a connector (ABI v2), from its connector.yaml
    ///
    /// Inputs and outputs become the `input` and `output` records (names in
    /// kebab-case, WIT keywords escaped with `%`), and each declared
    /// capability adds the import of its interface. The world goes to stdout,
    /// or with `-o FILE` replaces FILE atomically (never through a symlink).
    #[command(
        after_help = "Examples:\n  lf-resolve wit connectors/text-upper                  print the world\n  lf-resolve wit connectors/text-upper/connector.yaml -o connectors/text-upper/wit/world.wit"
    )]
    Wit(WitArgs),
    /// Create a connector directory (ABI v2) in Python, JavaScript or Rust
    ///
    /// Writes connector.yaml (one input, one output, one declared error),
    /// the WIT world generated from it, the source with a worked example,
    /// tests/contract.yaml (cases that pass as written), build.sh (builds
    /// module.wasm), .gitignore and README.md. Refuses a directory that
    /// exists and is not empty. The toolchains come from
    /// scripts/install-componentize.sh (Python, JavaScript) or rustup
    /// (Rust: `rustup target add wasm32-wasip2`).
    #[command(
        after_help = "Examples:\n  lf-resolve new greet --lang python\n  lf-resolve new fetcher --lang js --capability http.read --path connectors/fetcher\n\nThen: cd greet && ./build.sh && lf-resolve test . && lf-resolve push . REF"
    )]
    New(NewArgs),
    /// Run a connector directory's contract vectors (tests/contract.yaml)
    ///
    /// Loads module.wasm (or module.wat) with connector.yaml, as `push` would
    /// publish them, in the real host with the declared capabilities granted;
    /// runs each case with its scripted HTTP replies and KV state; compares
    /// the output (exact or subset) or the declared error. Prints one line
    /// per case and the totals; exits 1 when a case fails.
    #[command(
        after_help = "Examples:\n  lf-resolve test connectors/greet\n  lf-resolve test connectors/greet empty      only the cases whose name contains `empty`"
    )]
    Test(TestArgs),
    /// Certify a connector (a directory, or a pushed artifact) against its contract
    ///
    /// Runs every case through the real host with recording capabilities and
    /// checks the contract (outputs, declared error codes and `retryable`),
    /// idempotency (a replay changes nothing), determinism (other clocks and
    /// seeds give equal outputs) and capability usage (used against
    /// declared). Prints one line per check and `certification result:
    /// PASSED|WARNED|FAILED`; exits 0 for PASSED or WARNED, 1 for FAILED.
    ///
    /// A REF is certified as published: the module and the connector.yaml
    /// embedded in it are pulled, and the evidence is about the manifest
    /// digest. With `--key`, both statements are signed (sigstore v0.3
    /// bundles) and attached to the manifest as OCI referrers, where `lock`
    /// finds them under `[policy] certification`. docs/certification.md
    /// describes the checks and the evidence.
    #[command(
        after_help = "Examples:\n  lf-resolve certify connectors/greet\n  lf-resolve certify connectors/greet --runs 10 --output attestations/\n  lf-resolve certify ghcr.io/acme/greet:1.0 --contract connectors/greet/tests/contract.yaml --key cosign.key"
    )]
    Certify(CertifyArgs),
    /// Write a CycloneDX 1.6 SBOM of the locked connectors (offline, deterministic)
    ///
    /// One component per connector with its purl (`pkg:oci/...@sha256%3A...`),
    /// the manifest and module hashes, and its signer, capabilities and
    /// certification as `latticeflow:` properties. Read from latticeflow.toml
    /// and latticeflow.lock only. No timestamp unless SOURCE_DATE_EPOCH is set.
    #[command(
        after_help = "Examples:\n  lf-resolve sbom > bundle.cdx.json\n  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) lf-resolve sbom -o bundle.cdx.json"
    )]
    Sbom(SbomArgs),
    /// Add or remove a cosign public key in `[policy] keys` of latticeflow.toml
    ///
    /// The file is edited in place: comments and layout are kept. Run
    /// `lf-resolve lock` afterwards to re-verify the signatures.
    #[command(
        after_help = "Examples:\n  lf-resolve trust add keys/acme.pub\n  lf-resolve trust remove keys/old.pub"
    )]
    Trust(TrustArgs),
    /// Print a shell completion script to stdout
    #[command(
        after_help = "Examples:\n  lf-resolve completions bash > ~/.local/share/bash-completion/completions/lf-resolve\n  lf-resolve completions zsh > \"${fpath[1]}/_lf-resolve\"\n  lf-resolve completions fish > ~/.config/fish/completions/lf-resolve.fish"
    )]
    Completions(CompletionsArgs),
    /// Show or prune the content store (the cache of downloaded artifacts)
    #[command(subcommand)]
    Cache(CacheCommand),
}

/// Arguments of `sbom`.
#[derive(Debug, Args)]
pub struct SbomArgs {
    /// The document format
    #[arg(long, value_enum, default_value_t = SbomFormat::CyclonedxJson, value_name = "FMT")]
    pub format: SbomFormat,
    /// Write the SBOM to FILE (its directory must exist) instead of stdout; `-` is stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The SBOM formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SbomFormat {
    /// CycloneDX 1.6, JSON
    CyclonedxJson,
}

/// Arguments of `trust`.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: TrustAction,
}

/// `trust add` and `trust remove`.
#[derive(Debug, Subcommand)]
pub enum TrustAction {
    /// Trust a cosign public key (a PEM `PUBLIC KEY` file, as in `cosign.pub`)
    Add {
        /// The key file; recorded relative to latticeflow.toml's directory when inside it
        #[arg(value_name = "KEY")]
        key: PathBuf,
    },
    /// Stop trusting a key: KEY as listed in `[policy] keys`, or a file holding the same key
    Remove {
        /// The key file
        #[arg(value_name = "KEY")]
        key: PathBuf,
    },
}

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The shells `completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    /// bash (with the bash-completion package)
    Bash,
    /// zsh
    Zsh,
    /// fish
    Fish,
}

/// The `cache` subcommands.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Print the path of the content store
    Dir,
    /// Remove every blob that none of the given lockfiles needs
    ///
    /// Keeps the manifests, configs, modules, signature and attestation
    /// artifacts (with their layers) of every connector in the lockfiles
    /// given with `--lock` (by default the current project's). Waits for
    /// running `lock`, `fetch` and other commands to finish, and they wait
    /// for it. With no lockfile at all it refuses, unless `--all` is given,
    /// which empties the store.
    #[command(after_help = "Examples:
  lf-resolve cache prune --dry-run
  lf-resolve cache prune --lock app/latticeflow.lock --lock tools/latticeflow.lock
  lf-resolve cache prune --all")]
    Prune(PruneArgs),
}

/// Arguments of `cache prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// A lockfile whose artifacts to keep (repeatable) [default: the current project's]
    #[arg(long = "lock", value_name = "FILE")]
    pub locks: Vec<PathBuf>,
    /// Remove everything: no lockfile is kept
    #[arg(long, conflicts_with = "locks")]
    pub all: bool,
    /// Report what would be removed, remove nothing
    #[arg(long)]
    pub dry_run: bool,
    /// How long to wait for other lf-resolve processes using the store, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub wait: u64,
}

/// Arguments of `certify`.
#[derive(Debug, Args)]
pub struct CertifyArgs {
    /// A connector directory (connector.yaml, module.wasm or module.wat,
    /// tests/contract.yaml), or a pushed connector: `registry/repository:tag` or `…@sha256:<hex>`
    #[arg(value_name = "DIR|REF")]
    pub target: String,
    /// The contract file [default: DIR/tests/contract.yaml; required with a REF]
    #[arg(long, value_name = "FILE")]
    pub contract: Option<std::path::PathBuf>,
    /// Sign the statements with this cosign private key and attach them to REF
    #[arg(long, value_name = "PATH")]
    pub key: Option<std::path::PathBuf>,
    /// With --key, sign and attach a FAILED result too (by default it is only reported)
    #[arg(long, requires = "key")]
    pub attach_failed: bool,
    /// Runs per case for the determinism check (2 to 100)
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=100))]
    pub runs: u32,
    /// Write the in-toto statements (statement-test-result.json, statement-certification.json) to DIR,
    /// and with --key the signed bundles (test-result.sigstore.json, certification.sigstore.json)
    #[arg(long, value_name = "DIR")]
    pub output: Option<std::path::PathBuf>,
}

/// The languages `new` can scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// componentize-py 0.25.1
    Python,
    /// componentize-js 0.23.0
    Js,
    /// cargo build --target wasm32-wasip2 with wit-bindgen
    Rust,
    /// a plain Rust crate (no WebAssembly); build.rs generates its types from connector.yaml
    Native,
}

/// Arguments of `new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The connector's name: `[a-z][a-z0-9_-]*` (also the directory's name by default)
    pub name: String,
    /// The language of the source
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// Where to create it [default: ./NAME]
    #[arg(long, value_name = "DIR")]
    pub path: Option<std::path::PathBuf>,
    /// The connector id [default: `connector.example.NAME`, `-` as `_`]
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// A capability to declare (repeatable); docs/capabilities.md says what each allows
    #[arg(short, long = "capability", value_name = "CAP", value_parser = capability_names())]
    pub capabilities: Vec<String>,
    /// `--lang native`: depend on lf-runtime, lf-wrapper-gen and lf-certify in this lf-resolve source tree (the folder holding runtime/, wrapper-gen/ and certify/); native needs this or --registry
    #[arg(long, value_name = "DIR", conflicts_with = "registry")]
    pub runtime_path: Option<std::path::PathBuf>,
    /// `--lang native`: depend on lf-runtime, lf-wrapper-gen and lf-certify at this lf-resolve's exact version from the cargo registry NAME (`lf-resolve publish --registry NAME` puts them there), and publish only there
    #[arg(long, value_name = "NAME")]
    pub registry: Option<String>,
}

/// Arguments of `test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The connector directory (connector.yaml, module.wasm or module.wat, tests/contract.yaml)
    pub dir: std::path::PathBuf,
    /// Run only the cases whose name contains this text
    pub filter: Option<String>,
    /// The contract file [default: DIR/tests/contract.yaml]
    #[arg(long, value_name = "FILE")]
    pub contract: Option<std::path::PathBuf>,
}

/// Arguments of `wit`.
#[derive(Debug, Args)]
pub struct WitArgs {
    /// The connector directory, or the path of its connector.yaml
    #[arg(value_name = "DIR|FILE")]
    pub path: std::path::PathBuf,
    /// Write the world to FILE (its directory must exist) instead of stdout; `-` is stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Leave the WASI imports (http, clocks, random, logging) out of the world
    ///
    /// For toolchains whose language runtime imports WASI itself:
    /// componentize-js (`fetch`), componentize-py, Rust's `wasi` crate. `new`
    /// writes worlds this way. `lock` checks what the built component really
    /// imports either way.
    #[arg(long)]
    pub no_wasi: bool,
}

/// Arguments of `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Where to write the crates [default: `[generate] out`, `vendor/crates`]
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,
    /// Write nothing; exit 1 when the files on disk differ from what would be written
    #[arg(long)]
    pub check: bool,
}

/// Arguments of `publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The cargo registry, as named in `[registries.NAME]` of `.cargo/config.toml`
    #[arg(long, value_name = "NAME")]
    pub registry: String,
    /// Package and check everything, print what would be published, publish nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `vendor`.
#[derive(Debug, Args)]
pub struct VendorArgs {
    /// Where to write the layout [default: `vendor/oci` beside latticeflow.toml]
    pub dir: Option<std::path::PathBuf>,
    /// Copy from the store only; never download what is missing
    #[arg(long)]
    pub offline: bool,
    /// Write the layout as one reproducible tar file instead (for air-gapped machines)
    #[arg(long, value_name = "FILE", conflicts_with = "dir")]
    pub archive: Option<std::path::PathBuf>,
}

/// Arguments of `mirror`.
#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// The destination registry, `host[:port]`, optionally with a repository prefix
    #[arg(value_name = "DEST[/PREFIX]")]
    pub destination: String,
    /// Connectors copied at once
    #[arg(short = 'j', long, default_value_t = 4, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Show what would be copied; write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The connector directory
    pub dir: std::path::PathBuf,
    /// Where to push: `registry/repository:tag`
    #[arg(value_name = "REF")]
    pub reference: String,
    /// The `org.opencontainers.image.source` annotation (a URL)
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,
    /// Add or override a manifest annotation (repeatable); changes the digest
    #[arg(short, long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
}

/// Arguments of `tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// The artifact: `registry/repository:tag` or `…@sha256:<hex>`
    #[arg(value_name = "SRC-REF")]
    pub source: String,
    /// The tag to add in the same repository
    #[arg(value_name = "NEW-TAG")]
    pub tag: String,
}

/// Arguments of `sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// What to sign: `registry/repository:tag` or `…@sha256:<hex>`
    #[arg(value_name = "REF")]
    pub reference: String,
    /// The cosign private key (`cosign.key`)
    #[arg(long, value_name = "PATH")]
    pub key: std::path::PathBuf,
    /// Attach a sigstore v0.3 bundle as a referrer instead of a `.sig` signature
    #[arg(long)]
    pub bundle: bool,
}

/// Arguments of `generate-key`.
#[derive(Debug, Args)]
pub struct GenerateKeyArgs {
    /// Write `<PREFIX>.key` and `<PREFIX>.pub`
    #[arg(long, value_name = "PREFIX", default_value = "cosign")]
    pub output_key_prefix: String,
}

/// Arguments of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A connector reference, or the name of a connector in latticeflow.lock (inspected at its
    /// locked digest)
    #[arg(value_name = "REF|NAME")]
    pub reference: String,
    /// Read only the content store and `vendor/oci`: no network
    #[arg(long)]
    pub offline: bool,
}

/// Arguments of `list`.
#[derive(Debug, Args)]
pub struct ListArgs {}

/// Arguments of `outdated`.
#[derive(Debug, Args)]
pub struct OutdatedArgs {
    /// Exit 1 when a tag moved or a newer semver tag exists
    #[arg(long)]
    pub exit_code: bool,
}

/// Arguments of `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry: `host[:port]` (`docker.io` for Docker Hub)
    pub registry: String,
    /// The user name
    #[arg(short, long)]
    pub username: Option<String>,
    /// Read the password (or token) from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// Store the credentials without checking them against the registry
    #[arg(long)]
    pub no_verify: bool,
}

/// Arguments of `logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry: `host[:port]`
    pub registry: String,
}

/// Arguments of `lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// Fail, changing nothing, if the lock does not satisfy latticeflow.toml
    #[arg(long)]
    pub locked: bool,
    /// Use only the content store: no network
    #[arg(long)]
    pub offline: bool,
    /// Both --locked and --offline
    #[arg(long)]
    pub frozen: bool,
    /// Re-resolve this connector from its reference (repeatable); others stay pinned
    #[arg(long, value_name = "NAME")]
    pub update: Vec<String>,
    /// How many connectors to resolve at once [default: 16]
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Import a `vendor --archive` tar into the store first (implies --offline); tags resolve through it
    #[arg(long, value_name = "FILE")]
    pub from_archive: Option<std::path::PathBuf>,
}

/// Arguments of `fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// How many connectors to fetch at once [default: 16]
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Fill the store from a `vendor --archive` tar instead of the registry
    #[arg(long, value_name = "FILE")]
    pub from_archive: Option<std::path::PathBuf>,
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Also check that the registry still serves every locked manifest and signature
    #[arg(long)]
    pub remote: bool,
}

/// Arguments of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The bundle name [default: the directory's name]
    #[arg(long)]
    pub name: Option<String>,
}

/// Arguments of `add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The connector's name in this project: `[a-z][a-z0-9_]*`
    pub name: String,
    /// Its OCI reference: `registry/repository[:tag][@sha256:digest]`
    #[arg(value_name = "REF")]
    pub reference: String,
    /// A capability to grant (repeatable); docs/capabilities.md says what each allows
    #[arg(short, long = "capability", value_name = "CAP", value_parser = capability_names())]
    pub capabilities: Vec<String>,
    /// Do not check that REF exists in its registry (no network)
    #[arg(long)]
    pub offline: bool,
}

/// The closed set of capability names, so that clap lists them in `--help`
/// and suggests the closest one for a typo (`http-read` → `http.read`).
fn capability_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        lf_runtime::spec::Capability::ALL.map(lf_runtime::spec::Capability::as_str),
    )
}

/// Arguments of `remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The connector to remove
    pub name: String,
}

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {}
