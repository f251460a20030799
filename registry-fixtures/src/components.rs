//! Small ABI v2 connectors (WebAssembly components) written by hand in the
//! component text format, with their `connector.yaml`: one that works and one
//! for each way a component can be wrong or misbehave.
//!
//! Real connectors come from componentize-py or componentize-js and weigh
//! megabytes; these are a few hundred bytes, build in microseconds with the
//! `wat` crate, and each one exercises exactly one thing. They speak the
//! canonical ABI directly: strings arrive through `cabi_realloc`, and `run`
//! returns a pointer to its result because `result<output, node-error>`
//! flattens to more than one value (discriminant at offset 0, payload at the
//! payload's alignment).
//!
//! This file depends on nothing but the `wat` crate, so lf-runtime's tests
//! include it by path instead of depending on this crate.

/// A component connector: its name, `connector.yaml` and WAT source.
#[derive(Debug, Clone)]
pub struct ComponentFixture {
    /// A short name for messages.
    pub name: &'static str,
    /// The connector's `connector.yaml`.
    pub yaml: String,
    /// The component in the WebAssembly text format.
    pub wat: String,
}

impl ComponentFixture {
    /// The component binary.
    ///
    /// # Panics
    ///
    /// If the WAT does not parse (a bug in this file).
    pub fn bytes(&self) -> Vec<u8> {
        match wat::parse_str(&self.wat) {
            Ok(bytes) => bytes,
            Err(e) => panic!("component fixture `{}` does not parse: {e}", self.name),
        }
    }
}

/// The records of the word counter's world, exported so `run`'s type may
/// name them.
const WORD_TYPES: &str = r#"
  (type $input' (record (field "text" string)))
  (export $input "input" (type $input'))
  (type $output' (record (field "words" s64)))
  (export $output "output" (type $output'))
  (type $node-error' (record (field "code" string) (field "message" string) (field "retryable" bool)))
  (export $node-error "node-error" (type $node-error'))
"#;

/// A bump allocator for the host's `cabi_realloc` calls (fresh instance per
/// call, so nothing is ever freed), growing memory as needed.
const REALLOC: &str = r#"
    (global $heap (mut i32) (i32.const 4096))
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p
        (i32.and
          (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
          (i32.xor (i32.sub (local.get 2) (i32.const 1)) (i32.const -1))))
      (global.set $heap (i32.add (local.get $p) (local.get 3)))
      (block $fits
        (br_if $fits
          (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
        (drop (memory.grow
          (i32.add
            (i32.shr_u
              (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
              (i32.const 16))
            (i32.const 1)))))
      (local.get $p))
"#;

/// The word counter's core module; `code` is the error code it returns for
/// empty text (5 bytes), `extra` more core items (a start function, …).
fn word_core(code: &str, extra: &str) -> String {
    assert_eq!(code.len(), 5, "the error code is patched in place");
    format!(
        r#"
  (core module $m
    (memory (export "memory") 1)
    {REALLOC}
    (data (i32.const 16) "{code}")
    (data (i32.const 32) "the text is empty")
    {extra}
    (func (export "run") (param $ptr i32) (param $len i32) (result i32)
      (local $i i32) (local $words i64) (local $in i32) (local $c i32)
      (if (i32.eqz (local.get $len))
        (then
          (i32.store8 (i32.const 1024) (i32.const 1))
          (i32.store (i32.const 1032) (i32.const 16))
          (i32.store (i32.const 1036) (i32.const 5))
          (i32.store (i32.const 1040) (i32.const 32))
          (i32.store (i32.const 1044) (i32.const 17))
          (i32.store8 (i32.const 1048) (i32.const 0))
          (return (i32.const 1024))))
      (block $done
        (loop $next
          (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
          (local.set $c (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
          (if (i32.or (i32.eq (local.get $c) (i32.const 32))
                (i32.or (i32.eq (local.get $c) (i32.const 10)) (i32.eq (local.get $c) (i32.const 9))))
            (then (local.set $in (i32.const 0)))
            (else
              (if (i32.eqz (local.get $in))
                (then (local.set $words (i64.add (local.get $words) (i64.const 1)))))
              (local.set $in (i32.const 1))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next)))
      (i32.store8 (i32.const 1024) (i32.const 0))
      (i64.store (i32.const 1032) (local.get $words))
      (i32.const 1024)))
  (core instance $i (instantiate $m))
"#
    )
}

const WORD_RUN: &str = r#"
  (func $run (param "input" $input) (result (result $output (error $node-error)))
    (canon lift (core func $i "run") (memory $i "memory") (realloc (func $i "cabi_realloc"))))
  (export "run" (func $run))
"#;

fn word_yaml(id: &str, capabilities: &str) -> String {
    format!(
        "id: {id}
inputs:
  - name: text
    type: string
outputs:
  - name: words
    type: int
effects: []
deterministic: true
capabilities: [{capabilities}]
errors:
  - code: empty
    retryable: false
"
    )
}

fn word_like(
    name: &'static str,
    id: &str,
    code: &str,
    extra: &str,
    imports: &str,
) -> ComponentFixture {
    ComponentFixture {
        name,
        yaml: word_yaml(id, ""),
        wat: format!(
            "(component\n{imports}\n{WORD_TYPES}\n{}\n{WORD_RUN})",
            word_core(code, extra)
        ),
    }
}

/// `connector.test.text.words`: `run(input{text}) -> output{words}`,
/// counting words separated by spaces, tabs and newlines; empty text fails
/// with the declared error `empty`.
pub fn word_counter() -> ComponentFixture {
    word_like("word-counter", "connector.test.text.words", "empty", "", "")
}

/// The word counter failing with `bogus`, a code its manifest does not
/// declare.
pub fn undeclared_error() -> ComponentFixture {
    word_like(
        "undeclared-error",
        "connector.test.bad.undeclared",
        "bogus",
        "",
        "",
    )
}

/// The word counter with a core start function that traps: instantiation
/// fails.
pub fn start_trap() -> ComponentFixture {
    word_like(
        "start-trap",
        "connector.test.bad.start_trap",
        "empty",
        "(func $start unreachable) (start $start)",
        "",
    )
}

/// The word counter with a core start function that never returns.
pub fn start_loop() -> ComponentFixture {
    word_like(
        "start-loop",
        "connector.test.bad.start_loop",
        "empty",
        "(func $start (loop $forever (br $forever))) (start $start)",
        "",
    )
}

/// The word counter growing its memory a page at a time, forever, when
/// instantiated.
pub fn memory_hog() -> ComponentFixture {
    word_like(
        "memory-hog",
        "connector.test.bad.memory_hog",
        "empty",
        "(func $start (loop $more (drop (memory.grow (i32.const 1))) (br $more))) (start $start)",
        "",
    )
}

/// The word counter importing an interface no host provides
/// (`evil:x/y`).
pub fn refused_import() -> ComponentFixture {
    word_like(
        "refused-import",
        "connector.test.bad.refused_import",
        "empty",
        "",
        r#"(import "evil:x/y" (instance (export "f" (func))))"#,
    )
}

/// The word counter importing `wasi:http` (the `fields` resource of
/// `wasi:http/types@0.2.0`, and `outgoing-handler` without functions: a WAT
/// guest that really sends a request would be long). It links only when
/// `http.read` or `http.write` is declared.
pub fn http_importer(capabilities: &str) -> ComponentFixture {
    let mut fixture = word_like(
        "http-importer",
        "connector.test.http.importer",
        "empty",
        "",
        r#"(import "wasi:http/types@0.2.0" (instance (export "fields" (type (sub resource)))))
           (import "wasi:http/outgoing-handler@0.2.0" (instance))"#,
    );
    fixture.yaml = word_yaml("connector.test.http.importer", capabilities);
    fixture
}

/// The word counter's manifest, but `run` returns a bare `s64`.
pub fn wrong_signature() -> ComponentFixture {
    ComponentFixture {
        name: "wrong-signature",
        yaml: word_yaml("connector.test.bad.signature", ""),
        wat: format!(
            r#"(component
{WORD_TYPES}
  (core module $m
    (memory (export "memory") 1)
    {REALLOC}
    (func (export "run") (param i32 i32) (result i64) (i64.const 7)))
  (core instance $i (instantiate $m))
  (func $run (param "input" $input) (result s64)
    (canon lift (core func $i "run") (memory $i "memory") (realloc (func $i "cabi_realloc"))))
  (export "run" (func $run))
)"#
        ),
    }
}

/// `run() -> output{data: json}` whose `data` text is not JSON.
pub fn invalid_json() -> ComponentFixture {
    ComponentFixture {
        name: "invalid-json",
        yaml: "id: connector.test.bad.invalid_json
inputs: []
outputs:
  - name: data
    type: json
effects: []
deterministic: true
capabilities: []
errors: []
"
        .to_owned(),
        wat: r#"(component
  (type $output' (record (field "data" string)))
  (export $output "output" (type $output'))
  (type $node-error' (record (field "code" string) (field "message" string) (field "retryable" bool)))
  (export $node-error "node-error" (type $node-error'))
  (core module $m
    (memory (export "memory") 1)
    (data (i32.const 16) "{not json")
    (func (export "run") (result i32)
      (i32.store8 (i32.const 1024) (i32.const 0))
      (i32.store (i32.const 1028) (i32.const 16))
      (i32.store (i32.const 1032) (i32.const 9))
      (i32.const 1024)))
  (core instance $i (instantiate $m))
  (func $run (result (result $output (error $node-error)))
    (canon lift (core func $i "run") (memory $i "memory")))
  (export "run" (func $run))
)"#
        .to_owned(),
    }
}

/// `run() -> output{seconds: int}`: the seconds of
/// `wasi:clocks/wall-clock@0.2.0` `now`. `capabilities` is the manifest's
/// list (`clock` for the real clock).
pub fn clock_reader(capabilities: &str) -> ComponentFixture {
    ComponentFixture {
        name: "clock-reader",
        yaml: format!(
            "id: connector.test.time.now
inputs: []
outputs:
  - name: seconds
    type: int
effects: []
deterministic: false
capabilities: [{capabilities}]
errors: []
"
        ),
        wat: r#"(component
  (import "wasi:clocks/wall-clock@0.2.0" (instance $clock
    (type $dt (record (field "seconds" u64) (field "nanoseconds" u32)))
    (export "datetime" (type $datetime (eq $dt)))
    (export "now" (func (result $datetime)))
  ))
  (alias export $clock "now" (func $now))
  (type $output' (record (field "seconds" s64)))
  (export $output "output" (type $output'))
  (type $node-error' (record (field "code" string) (field "message" string) (field "retryable" bool)))
  (export $node-error "node-error" (type $node-error'))
  (core module $libc (memory (export "memory") 1))
  (core instance $libc (instantiate $libc))
  (core func $now (canon lower (func $now) (memory $libc "memory")))
  (core module $m
    (import "libc" "memory" (memory 1))
    (import "host" "now" (func $now (param i32)))
    (func (export "run") (result i32)
      (call $now (i32.const 64))
      (i32.store8 (i32.const 1024) (i32.const 0))
      (i64.store (i32.const 1032) (i64.load (i32.const 64)))
      (i32.const 1024)))
  (core instance $i (instantiate $m
    (with "libc" (instance $libc))
    (with "host" (instance (export "now" (func $now))))))
  (func $run (result (result $output (error $node-error)))
    (canon lift (core func $i "run") (memory $libc "memory")))
  (export "run" (func $run))
)"#
        .to_owned(),
    }
}

/// `run(input{key}) -> output{status, value}` over
/// `latticeflow:capabilities/kv@0.2.0`: `set(key, "v1")`, then `get(key)`.
/// `status` is 0 when `set` succeeded, otherwise 10 + the error case
/// (10 `denied`, 11 `too-large`, 12 `unavailable`); `value` is what `get`
/// returned (`none` when it failed). `capabilities` is the manifest's list.
pub fn kv_user(capabilities: &str) -> ComponentFixture {
    ComponentFixture {
        name: "kv-user",
        yaml: format!(
            "id: connector.test.kv.user
inputs:
  - name: key
    type: string
outputs:
  - name: status
    type: int
  - name: value
    type: optional<string>
effects: []
deterministic: false
capabilities: [{capabilities}]
errors: []
"
        ),
        wat: format!(
            r#"(component
  (import "latticeflow:capabilities/kv@0.2.0" (instance $kv
    (type $e (variant (case "denied") (case "too-large") (case "unavailable" string)))
    (export "error" (type $error (eq $e)))
    (export "get" (func (param "key" string) (result (result (option string) (error $error)))))
    (export "set" (func (param "key" string) (param "value" string) (result (result (error $error)))))
  ))
  (alias export $kv "get" (func $get))
  (alias export $kv "set" (func $set))
  (type $input' (record (field "key" string)))
  (export $input "input" (type $input'))
  (type $output' (record (field "status" s64) (field "value" (option string))))
  (export $output "output" (type $output'))
  (type $node-error' (record (field "code" string) (field "message" string) (field "retryable" bool)))
  (export $node-error "node-error" (type $node-error'))
  (core module $libc
    (memory (export "memory") 1)
    {REALLOC})
  (core instance $libc (instantiate $libc))
  (core func $get (canon lower (func $get) (memory $libc "memory") (realloc (func $libc "cabi_realloc"))))
  (core func $set (canon lower (func $set) (memory $libc "memory") (realloc (func $libc "cabi_realloc"))))
  (core module $m
    (import "libc" "memory" (memory 1))
    (import "kv" "get" (func $get (param i32 i32 i32)))
    (import "kv" "set" (func $set (param i32 i32 i32 i32 i32)))
    (data (i32.const 16) "v1")
    (func (export "run") (param $key i32) (param $len i32) (result i32)
      (local $status i64)
      ;; set(key, "v1") -> result<_, error> at 128
      (call $set (local.get $key) (local.get $len) (i32.const 16) (i32.const 2) (i32.const 128))
      (if (i32.load8_u (i32.const 128))
        (then (local.set $status
          (i64.add (i64.const 10) (i64.extend_i32_u (i32.load8_u (i32.const 132)))))))
      ;; get(key) -> result<option<string>, error> at 256
      (call $get (local.get $key) (local.get $len) (i32.const 256))
      (i32.store8 (i32.const 1024) (i32.const 0))
      (i64.store (i32.const 1032) (local.get $status))
      (if (i32.load8_u (i32.const 256))
        (then (i32.store8 (i32.const 1040) (i32.const 0)))
        (else
          (i32.store8 (i32.const 1040) (i32.load8_u (i32.const 260)))
          (i32.store (i32.const 1044) (i32.load (i32.const 264)))
          (i32.store (i32.const 1048) (i32.load (i32.const 268)))))
      (i32.const 1024)))
  (core instance $i (instantiate $m
    (with "libc" (instance $libc))
    (with "kv" (instance (export "get" (func $get)) (export "set" (func $set))))))
  (func $run (param "input" $input) (result (result $output (error $node-error)))
    (canon lift (core func $i "run") (memory $libc "memory") (realloc (func $libc "cabi_realloc"))))
  (export "run" (func $run))
)"#
        ),
    }
}

/// `run() -> result<_, node-error>` (no inputs, no outputs) that logs
/// `warn`, context `ctx`, message `hello` through
/// `wasi:logging/logging@0.1.0-draft`. `capabilities` is the manifest's list.
pub fn logger(capabilities: &str) -> ComponentFixture {
    ComponentFixture {
        name: "logger",
        yaml: format!(
            "id: connector.test.log.hello
inputs: []
outputs: []
effects: []
deterministic: true
capabilities: [{capabilities}]
errors: []
"
        ),
        wat: r#"(component
  (import "wasi:logging/logging@0.1.0-draft" (instance $logging
    (type $l (enum "trace" "debug" "info" "warn" "error" "critical"))
    (export "level" (type $level (eq $l)))
    (export "log" (func (param "level" $level) (param "context" string) (param "message" string)))
  ))
  (alias export $logging "log" (func $log))
  (type $node-error' (record (field "code" string) (field "message" string) (field "retryable" bool)))
  (export $node-error "node-error" (type $node-error'))
  (core module $libc (memory (export "memory") 1))
  (core instance $libc (instantiate $libc))
  (core func $log (canon lower (func $log) (memory $libc "memory")))
  (core module $m
    (import "libc" "memory" (memory 1))
    (import "host" "log" (func $log (param i32 i32 i32 i32 i32)))
    (data (i32.const 16) "ctx")
    (data (i32.const 32) "hello")
    (func (export "run") (result i32)
      (call $log (i32.const 3) (i32.const 16) (i32.const 3) (i32.const 32) (i32.const 5))
      (i32.store8 (i32.const 1024) (i32.const 0))
      (i32.const 1024)))
  (core instance $i (instantiate $m
    (with "libc" (instance $libc))
    (with "host" (instance (export "log" (func $log))))))
  (func $run (result (result (error $node-error)))
    (canon lift (core func $i "run") (memory $libc "memory")))
  (export "run" (func $run))
)"#
        .to_owned(),
    }
}

/// Every fixture above that builds a node (with the capabilities it needs),
/// for tests that only need to parse them all.
pub fn all() -> Vec<ComponentFixture> {
    vec![
        word_counter(),
        undeclared_error(),
        start_trap(),
        start_loop(),
        memory_hog(),
        refused_import(),
        http_importer("http.read"),
        wrong_signature(),
        invalid_json(),
        clock_reader(""),
        kv_user("kv.read, kv.write"),
        logger("log"),
    ]
}
