//! Seeds a registry with many distinct connector artifacts of a given size,
//! for `scripts/bench.sh`.
//!
//! ```text
//! lf-bench-seed --registry HOST:PORT --count N --size BYTES --prefix bench/c
//!               [--tag 1.0] [--jobs 8] [--write-config PATH]
//! lf-bench-seed --registry HOST:PORT --count N --component FILE.wasm
//!               --manifest connector.yaml --prefix bench/d [...]
//! ```
//!
//! Connector `i` (0-based) is pushed as `HOST:PORT/<prefix>/n<i>:<tag>`. Its
//! module is a valid core module with the ABI v1 exports (`memory`,
//! `lf_abi_version`, `lf_alloc`, `lf_invoke`) and no imports, one active data
//! segment of pseudo-random bytes (seeded by prefix and index, so every
//! connector has its own digest) that pads the module to about `BYTES`, and the
//! `latticeflow.connector` custom section with the connector manifest
//! `connector.<prefix segments>.n<i>` (no capabilities, deterministic).
//! `lf_invoke` answers `{"ok":{}}`, stored at the start of the segment.
//!
//! The module is never held in memory: it is generated twice, once to hash it
//! and once while streaming it to the registry (`oci-client`'s monolithic
//! stream push), so a 512 MiB connector costs a few MiB of memory. Pushes run
//! concurrently, `--jobs` at a time.
//!
//! With `--component`, every artifact is instead a copy of that component
//! (ABI v2; `--size` is not used) whose top-level `latticeflow.connector`
//! section is replaced by `--manifest` with the `id` set to
//! `connector.<prefix segments>.n<i>`, as `lf-resolve push` would embed it.
//! The ids differ, so the digests do. The component is held in memory (one
//! copy per push in flight).
//!
//! On stdout, one line per pushed artifact, in index order, tab-separated:
//! `reference  manifest-digest  config-digest  module-digest  module-size`.
//! `--write-config PATH` also writes a `latticeflow.toml` with
//! `signatures = "none"` and one `[connectors.n<i>]` per artifact. `BYTES`
//! takes a `K`/`M`/`G` (or `KiB`/`MiB`/`GiB`) suffix, in powers of 1024.

#![allow(clippy::print_stdout, reason = "stdout is this tool's interface")]
#![allow(clippy::print_stderr, reason = "usage and errors")]

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use lf_registry_fixtures::artifact::{
    self, Descriptor, MANIFEST_MEDIA_TYPE, RawArtifact, WASM_CONFIG_MEDIA_TYPE,
    WASM_LAYER_MEDIA_TYPE,
};
use lf_registry_fixtures::{Pusher, SECTION_NAME};
use lf_runtime::spec::ConnectorManifest;
use oci_client::client::{ClientConfig, ClientProtocol};
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;
use wasm_encoder::{
    CodeSection, ConstExpr, CustomSection, Encode as _, ExportKind, ExportSection, Function,
    FunctionSection, Instruction, MemorySection, MemoryType, Module, Section as _, TypeSection,
    ValType,
};

/// Where the data segment starts in linear memory.
const DATA_OFFSET: u32 = 16;

/// What `lf_invoke` returns, stored at [`DATA_OFFSET`].
const REPLY: &[u8] = br#"{"ok":{}}"#;

/// Size of the chunks the payload is generated and streamed in.
const CHUNK: usize = 1024 * 1024;

/// Wasm page size.
const PAGE: u64 = 64 * 1024;

/// Largest payload a 32-bit memory can hold after [`DATA_OFFSET`], less a page.
const MAX_PAYLOAD: u64 = 4 * 1024 * 1024 * 1024 - 2 * PAGE;

const USAGE: &str = "usage: lf-bench-seed --registry HOST:PORT --count N \
                     (--size BYTES | --component FILE.wasm --manifest connector.yaml) \
                     --prefix bench/c [--tag 1.0] [--jobs 8] [--write-config PATH]";

/// The preamble of a component: magic, then version 0x0d and layer 1.
const COMPONENT_HEADER: [u8; 8] = [0, b'a', b's', b'm', 0x0d, 0, 1, 0];

#[derive(Debug, Clone)]
struct Args {
    registry: String,
    count: usize,
    size: u64,
    prefix: String,
    tag: String,
    jobs: usize,
    write_config: Option<PathBuf>,
    /// `--component` and `--manifest`: the component's bytes (without a
    /// top-level connector section) and the manifest's YAML.
    component: Option<Arc<(Vec<u8>, String)>>,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("lf-bench-seed: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("lf-bench-seed: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(mut raw: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut registry = None;
    let mut count = None;
    let mut size = None;
    let mut prefix = None;
    let mut tag = "1.0".to_owned();
    let mut jobs = 8;
    let mut write_config = None;
    let mut component = None;
    let mut manifest = None;
    while let Some(flag) = raw.next() {
        let mut value = || raw.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--registry" => registry = Some(value()?),
            "--count" => count = Some(parse_number(&flag, &value()?)?),
            "--size" => size = Some(parse_size(&value()?)?),
            "--prefix" => prefix = Some(value()?.trim_matches('/').to_owned()),
            "--tag" => tag = value()?,
            "--jobs" => jobs = parse_number(&flag, &value()?)?.max(1),
            "--write-config" => write_config = Some(PathBuf::from(value()?)),
            "--component" => component = Some(PathBuf::from(value()?)),
            "--manifest" => manifest = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err("help".to_owned()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let component = match (component, manifest) {
        (Some(wasm), Some(yaml)) => {
            let bytes =
                std::fs::read(&wasm).map_err(|e| format!("cannot read {}: {e}", wasm.display()))?;
            let yaml = std::fs::read_to_string(&yaml)
                .map_err(|e| format!("cannot read {}: {e}", yaml.display()))?;
            let bytes =
                strip_connector_section(&bytes).map_err(|e| format!("{}: {e}", wasm.display()))?;
            Some(Arc::new((bytes, yaml)))
        }
        (None, None) => None,
        _ => return Err("--component and --manifest go together".to_owned()),
    };
    let size = match (&component, size) {
        (Some(_), _) => 0,
        (None, size) => size.ok_or("--size is required")?,
    };
    if size > MAX_PAYLOAD {
        return Err(format!(
            "--size {size} is over the 4 GiB a 32-bit memory holds"
        ));
    }
    Ok(Args {
        registry: registry.ok_or("--registry is required")?,
        count: count.ok_or("--count is required")?,
        size,
        prefix: prefix.ok_or("--prefix is required")?,
        tag,
        jobs,
        write_config,
        component,
    })
}

/// `component` without its top-level `latticeflow.connector` custom
/// sections (the top-level framing is id byte + LEB128 size; nested modules
/// and components are single sections, stepped over whole).
fn strip_connector_section(component: &[u8]) -> Result<Vec<u8>, String> {
    if !component.starts_with(&COMPONENT_HEADER) {
        return Err("not a WebAssembly component (wrong preamble)".to_owned());
    }
    let mut out = component[..8].to_vec();
    let mut at = 8;
    while at < component.len() {
        let start = at;
        let id = component[at];
        at += 1;
        let mut size: u64 = 0;
        let mut shift = 0;
        loop {
            let byte = *component
                .get(at)
                .ok_or_else(|| format!("section at byte {start} is cut short"))?;
            at += 1;
            size |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
            if shift > 28 {
                return Err(format!("section at byte {start}: bad size"));
            }
        }
        let end = usize::try_from(size)
            .ok()
            .and_then(|size| at.checked_add(size))
            .filter(|&end| end <= component.len())
            .ok_or_else(|| format!("section at byte {start} runs past the end"))?;
        let body = &component[at..end];
        let is_connector = id == 0
            && body.first().is_some_and(|&len| {
                usize::from(len) == SECTION_NAME.len()
                    && body.get(1..=SECTION_NAME.len()) == Some(SECTION_NAME.as_bytes())
            });
        if !is_connector {
            out.extend_from_slice(&component[start..end]);
        }
        at = end;
    }
    Ok(out)
}

/// `yaml` with its top-level `id:` line set to `id`.
fn with_id(yaml: &str, id: &str) -> String {
    let mut out = String::with_capacity(yaml.len() + id.len());
    let mut replaced = false;
    for line in yaml.lines() {
        if !replaced && line.starts_with("id:") {
            let _ = writeln!(out, "id: {id}");
            replaced = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !replaced {
        out = format!("id: {id}\n{out}");
    }
    out
}

fn parse_number(flag: &str, text: &str) -> Result<usize, String> {
    text.parse()
        .map_err(|_| format!("{flag}: `{text}` is not a number"))
}

/// `1048576`, `1M`, `1MiB`, `16m`, `512MiB`, `1G`, `64k`.
fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix("ib").unwrap_or(&lower);
    let lower = lower.strip_suffix('b').unwrap_or(lower);
    let (digits, unit) = match lower.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => lower.split_at(at),
        None => (lower, ""),
    };
    let factor = match unit {
        "" => 1,
        "k" => 1024,
        "m" => 1024 * 1024,
        "g" => 1024 * 1024 * 1024,
        _ => return Err(format!("--size: unknown unit in `{text}`")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("--size: `{text}` is not a size"))
}

/// The connector id for `prefix` and index `i`: `connector.<segments>.n<i>`,
/// with `/` and `-` in the prefix turned into `.` and `_`.
fn connector_id(prefix: &str, i: usize) -> String {
    let segments = prefix.replace('-', "_").replace('/', ".");
    format!("connector.{segments}.n{i}")
}

fn connector_yaml(id: &str) -> String {
    format!(
        "id: {id}\ninputs: []\noutputs: []\neffects: []\ndeterministic: true\ncapabilities: []\n"
    )
}

/// A connector module cut in three: everything up to the data segment's
/// bytes, the pseudo-random payload (generated on demand), and the custom
/// section after it.
#[derive(Debug, Clone)]
struct ModulePlan {
    head: Bytes,
    payload_len: u64,
    seed: u64,
    tail: Bytes,
}

impl ModulePlan {
    /// A module of about `size` bytes (exactly, unless a LEB128 length would
    /// have to straddle a byte boundary) carrying `yaml`.
    fn new(size: u64, seed: u64, yaml: &str) -> ModulePlan {
        let tail = custom_section(yaml);
        // The head's length depends (by a few bytes) on the payload length;
        // a few rounds settle it.
        let mut payload_len = size.saturating_sub(64 + tail.len() as u64);
        let mut head = module_head(payload_len);
        for _ in 0..8 {
            let overhead = (head.len() + tail.len()) as u64;
            let wanted = size.saturating_sub(overhead).max(REPLY.len() as u64);
            if wanted == payload_len {
                break;
            }
            payload_len = wanted;
            head = module_head(payload_len);
        }
        ModulePlan {
            head: Bytes::from(head),
            payload_len,
            seed,
            tail: Bytes::from(tail),
        }
    }

    fn len(&self) -> u64 {
        self.head.len() as u64 + self.payload_len + self.tail.len() as u64
    }

    /// The module's bytes, in chunks of at most [`CHUNK`].
    fn chunks(&self) -> Chunks {
        Chunks {
            plan: self.clone(),
            state: State::Head,
            rng: SplitMix64(self.seed),
            emitted: 0,
        }
    }

    /// `sha256:<hex>` of the module.
    fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for chunk in self.chunks() {
            hasher.update(&chunk);
        }
        format!("sha256:{:x}", hasher.finalize())
    }

    /// The whole module in memory (for tests and small sizes).
    #[cfg(test)]
    fn to_vec(&self) -> Vec<u8> {
        self.chunks().flat_map(|chunk| chunk.to_vec()).collect()
    }
}

/// The module up to and including the data segment's length: types,
/// functions, memory (large enough for the segment and one spare page),
/// exports, code, and the data section header for one active segment of
/// `payload_len` bytes at [`DATA_OFFSET`].
fn module_head(payload_len: u64) -> Vec<u8> {
    let end = u64::from(DATA_OFFSET) + payload_len;
    let pages = end.div_ceil(PAGE) + 1;
    // lf_alloc hands out the memory after the segment, 8-aligned.
    let alloc_at = end.next_multiple_of(8);

    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    types.ty().function([ValType::I32], [ValType::I32]);
    types
        .ty()
        .function([ValType::I32, ValType::I32], [ValType::I64]);
    let mut functions = FunctionSection::new();
    functions.function(0).function(1).function(2);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: pages,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut exports = ExportSection::new();
    exports
        .export("memory", ExportKind::Memory, 0)
        .export("lf_abi_version", ExportKind::Func, 0)
        .export("lf_alloc", ExportKind::Func, 1)
        .export("lf_invoke", ExportKind::Func, 2);
    let mut code = CodeSection::new();
    let mut abi_version = Function::new([]);
    abi_version.instruction(&Instruction::I32Const(1));
    abi_version.instruction(&Instruction::End);
    let mut alloc = Function::new([]);
    // Wraps for payloads near 4 GiB, which MAX_PAYLOAD rules out.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        reason = "alloc_at < 4 GiB: the payload is bounded by MAX_PAYLOAD"
    )]
    alloc.instruction(&Instruction::I32Const(alloc_at as u32 as i32));
    alloc.instruction(&Instruction::End);
    let mut invoke = Function::new([]);
    let reply = (i64::from(DATA_OFFSET) << 32) | REPLY.len() as i64;
    invoke.instruction(&Instruction::I64Const(reply));
    invoke.instruction(&Instruction::End);
    code.function(&abi_version)
        .function(&alloc)
        .function(&invoke);

    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&memories)
        .section(&exports)
        .section(&code);
    let mut head = module.finish();

    // The data section header, as wasm-encoder's `DataSection::active` writes
    // it: count 1, flags 0 (active, memory 0), the offset expression, the
    // byte count; the bytes themselves are streamed after it.
    let mut segment_head = Vec::new();
    1u32.encode(&mut segment_head);
    segment_head.push(0x00);
    #[allow(clippy::cast_possible_wrap, reason = "DATA_OFFSET is a small constant")]
    ConstExpr::i32_const(DATA_OFFSET as i32).encode(&mut segment_head);
    encode_len(payload_len, &mut segment_head);
    head.push(wasm_encoder::SectionId::Data as u8);
    encode_len(segment_head.len() as u64 + payload_len, &mut head);
    head.extend_from_slice(&segment_head);
    head
}

/// A length as unsigned LEB128 (lengths are bounded by [`MAX_PAYLOAD`] plus
/// a few bytes, so they fit in `u32`).
fn encode_len(len: u64, sink: &mut Vec<u8>) {
    u32::try_from(len).unwrap_or(u32::MAX).encode(sink);
}

/// The `latticeflow.connector` custom section, id byte and size included.
fn custom_section(yaml: &str) -> Vec<u8> {
    let mut out = Vec::new();
    CustomSection {
        name: Cow::Borrowed(SECTION_NAME),
        data: Cow::Borrowed(yaml.as_bytes()),
    }
    .append_to(&mut out);
    out
}

/// SplitMix64: fast, seedable, good enough to defeat compression and make
/// every connector's bytes distinct.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for word in out.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            word.copy_from_slice(&bytes[..word.len()]);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Payload,
    Tail,
    Done,
}

/// Iterator over a module's bytes: head, payload chunks, tail.
#[derive(Debug)]
struct Chunks {
    plan: ModulePlan,
    state: State,
    rng: SplitMix64,
    emitted: u64,
}

impl Iterator for Chunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        loop {
            match self.state {
                State::Head => {
                    self.state = State::Payload;
                    return Some(self.plan.head.clone());
                }
                State::Payload => {
                    let left = self.plan.payload_len - self.emitted;
                    if left == 0 {
                        self.state = State::Tail;
                        continue;
                    }
                    let len = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
                    let mut chunk = vec![0; len];
                    self.rng.fill(&mut chunk);
                    if self.emitted == 0 {
                        // The reply lf_invoke points at.
                        let n = REPLY.len().min(len);
                        chunk[..n].copy_from_slice(&REPLY[..n]);
                    }
                    self.emitted += len as u64;
                    return Some(Bytes::from(chunk));
                }
                State::Tail => {
                    self.state = State::Done;
                    return Some(self.plan.tail.clone());
                }
                State::Done => return None,
            }
        }
    }
}

/// A seed from the prefix and the index (FNV-1a over both).
fn seed(prefix: &str, i: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in prefix.bytes().chain((i as u64).to_le_bytes()) {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What was pushed for one connector.
#[derive(Debug, Clone)]
struct Pushed {
    index: usize,
    reference: String,
    manifest: Descriptor,
    config: Descriptor,
    module: Descriptor,
}

fn run(args: &Args) -> Result<(), String> {
    // Fail before any push if the prefix makes an invalid connector id.
    let id = connector_id(&args.prefix, 0);
    let yaml = match &args.component {
        Some(component) => with_id(&component.1, &id),
        None => connector_yaml(&id),
    };
    ConnectorManifest::from_yaml(&yaml).map_err(|e| {
        format!(
            "--prefix `{}` gives the connector id `{id}`, which is invalid: {e}",
            args.prefix
        )
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    let mut pushed = runtime.block_on(push_all(args))?;
    pushed.sort_by_key(|p| p.index);
    let mut lines = String::new();
    for p in &pushed {
        let _ = writeln!(
            lines,
            "{}\t{}\t{}\t{}\t{}",
            p.reference, p.manifest.digest, p.config.digest, p.module.digest, p.module.size
        );
    }
    print!("{lines}");
    if let Some(path) = &args.write_config {
        std::fs::write(path, config_toml(&pushed))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

fn config_toml(pushed: &[Pushed]) -> String {
    let mut toml = String::from(
        "# Written by lf-bench-seed.\n[bundle]\nname = \"bench\"\n\n[policy]\nsignatures = \"none\"\n",
    );
    for p in pushed {
        let _ = write!(
            toml,
            "\n[connectors.n{}]\nref = \"{}\"\n",
            p.index, p.reference
        );
    }
    toml
}

async fn push_all(args: &Args) -> Result<Vec<Pushed>, String> {
    let client = Arc::new(oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        use_monolithic_push: true,
        ..ClientConfig::default()
    }));
    let pusher = Arc::new(Pusher::new(&args.registry, None));
    let limit = Arc::new(Semaphore::new(args.jobs));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..args.count {
        let client = Arc::clone(&client);
        let pusher = Arc::clone(&pusher);
        let limit = Arc::clone(&limit);
        let args = args.clone();
        tasks.spawn(async move {
            let _permit = limit
                .acquire_owned()
                .await
                .map_err(|e| format!("semaphore closed: {e}"))?;
            push_one(&client, &pusher, &args, index).await
        });
    }
    let mut pushed = Vec::with_capacity(args.count);
    while let Some(joined) = tasks.join_next().await {
        let result = joined.map_err(|e| format!("a push task failed: {e}"))?;
        match result {
            Ok(p) => pushed.push(p),
            Err(e) => {
                tasks.abort_all();
                return Err(e);
            }
        }
    }
    Ok(pushed)
}

async fn push_one(
    client: &oci_client::Client,
    pusher: &Pusher,
    args: &Args,
    index: usize,
) -> Result<Pushed, String> {
    let repository = format!("{}/n{index}", args.prefix);
    let reference = format!("{}/{repository}:{}", args.registry, args.tag);
    let id = connector_id(&args.prefix, index);
    let (chunks, module_digest, module_size) = match &args.component {
        Some(component) => {
            let mut bytes = component.0.clone();
            CustomSection {
                name: Cow::Borrowed(SECTION_NAME),
                data: Cow::Owned(with_id(&component.1, &id).into_bytes()),
            }
            .append_to(&mut bytes);
            let digest = artifact::sha256_digest(&bytes);
            let size = bytes.len() as u64;
            let chunks: Box<dyn Iterator<Item = Bytes> + Send> =
                Box::new(std::iter::once(Bytes::from(bytes)));
            (chunks, digest, size)
        }
        None => {
            let plan = ModulePlan::new(args.size, seed(&args.prefix, index), &connector_yaml(&id));
            let hashing = plan.clone();
            let digest = tokio::task::spawn_blocking(move || hashing.digest())
                .await
                .map_err(|e| format!("hashing {reference} failed: {e}"))?;
            let size = plan.len();
            let chunks: Box<dyn Iterator<Item = Bytes> + Send> = Box::new(plan.chunks());
            (chunks, digest, size)
        }
    };
    let module = Descriptor {
        media_type: WASM_LAYER_MEDIA_TYPE.to_owned(),
        digest: module_digest,
        size: module_size,
    };
    let config_bytes = artifact::wasm_config(std::slice::from_ref(&module.digest));
    let config = Descriptor::of(WASM_CONFIG_MEDIA_TYPE, &config_bytes);
    let title = format!("n{index}");
    let annotations = artifact::annotations(Some(&title), Some(&args.tag), None, Some(&id));
    let manifest_bytes =
        artifact::image_manifest(&config, std::slice::from_ref(&module), &annotations);
    let manifest = Descriptor::of(MANIFEST_MEDIA_TYPE, &manifest_bytes);

    let target: oci_client::Reference = reference
        .parse()
        .map_err(|e| format!("invalid reference `{reference}`: {e}"))?;
    let stream = futures_util::stream::iter(chunks.map(Ok));
    client
        .push_blob_stream(&target, stream, &module.digest, Some(module.size))
        .await
        .map_err(|e| format!("pushing the module of {reference} failed: {e}"))?;
    // The module is there now: push_raw sends the config and the manifest.
    pusher
        .push_raw(
            &repository,
            &args.tag,
            &RawArtifact::image(manifest_bytes, vec![config_bytes]),
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(Pushed {
        index,
        reference,
        manifest,
        config,
        module,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use wasmparser::{Validator, WasmFeatures};

    fn build(size: u64) -> (ModulePlan, Vec<u8>) {
        let id = connector_id("bench/c", 3);
        let plan = ModulePlan::new(size, seed("bench/c", 3), &connector_yaml(&id));
        let bytes = plan.to_vec();
        (plan, bytes)
    }

    #[test]
    fn module_is_valid_and_carries_its_manifest() {
        for size in [1000, 65_536, 1024 * 1024, 3 * 1024 * 1024 + 7] {
            let (plan, bytes) = build(size);
            assert_eq!(bytes.len() as u64, plan.len());
            assert!(bytes.len() as u64 <= size + 4, "{size}: {}", bytes.len());
            assert!(bytes.len() as u64 + 4 >= size, "{size}: {}", bytes.len());
            Validator::new_with_features(WasmFeatures::default())
                .validate_all(&bytes)
                .unwrap();
            let yaml = lf_registry_fixtures::manifest_section(&bytes)
                .unwrap()
                .unwrap();
            let manifest = ConnectorManifest::from_yaml(yaml).unwrap();
            assert_eq!(manifest.id().as_str(), "connector.bench.c.n3");
            assert!(manifest.capabilities().is_empty());
            assert!(manifest.deterministic());
            assert_eq!(plan.digest(), artifact::sha256_digest(&bytes));
        }
    }

    #[test]
    fn streamed_head_matches_wasm_encoder_data_section() {
        let (plan, bytes) = build(5000);
        let payload_start = plan.head.len();
        let payload =
            &bytes[payload_start..payload_start + usize::try_from(plan.payload_len).unwrap()];
        assert!(payload.starts_with(REPLY));
        let mut data = wasm_encoder::DataSection::new();
        data.active(
            0,
            &ConstExpr::i32_const(DATA_OFFSET as i32),
            payload.iter().copied(),
        );
        let mut expected = Vec::new();
        data.append_to(&mut expected);
        let data_start = payload_start - (expected.len() - payload.len());
        assert_eq!(
            &bytes[data_start..payload_start + payload.len()],
            &expected[..]
        );
    }

    #[test]
    fn connectors_differ() {
        let a = ModulePlan::new(4096, seed("bench/c", 0), &connector_yaml("connector.a.b"));
        let b = ModulePlan::new(4096, seed("bench/c", 1), &connector_yaml("connector.a.b"));
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn component_copies_get_their_own_manifest() {
        let yaml = "id: connector.example.x\nversion: 0.1.0\ninputs: []\n";
        assert_eq!(
            with_id(yaml, "connector.bench.d.n2"),
            "id: connector.bench.d.n2\nversion: 0.1.0\ninputs: []\n"
        );
        let mut component = COMPONENT_HEADER.to_vec();
        CustomSection {
            name: Cow::Borrowed(SECTION_NAME),
            data: Cow::Borrowed(b"id: old"),
        }
        .append_to(&mut component);
        CustomSection {
            name: Cow::Borrowed("other"),
            data: Cow::Borrowed(b"kept"),
        }
        .append_to(&mut component);
        let stripped = strip_connector_section(&component).unwrap();
        let mut expected = COMPONENT_HEADER.to_vec();
        CustomSection {
            name: Cow::Borrowed("other"),
            data: Cow::Borrowed(b"kept"),
        }
        .append_to(&mut expected);
        assert_eq!(stripped, expected);
        assert!(strip_connector_section(b"\0asm\x01\0\0\0").is_err());
        assert!(strip_connector_section(&component[..component.len() - 1]).is_err());
    }

    #[test]
    fn sizes_and_ids() {
        assert_eq!(parse_size("1MiB").unwrap(), 1024 * 1024);
        assert_eq!(parse_size("16M").unwrap(), 16 * 1024 * 1024);
        assert_eq!(parse_size("512mib").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_size("1048576").unwrap(), 1024 * 1024);
        assert!(parse_size("1Q").is_err());
        assert_eq!(
            connector_id("bench/big-one", 7),
            "connector.bench.big_one.n7"
        );
    }
}
