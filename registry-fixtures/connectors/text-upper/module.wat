;; text-upper: connector.latticeflow.text.upper, ABI v1 (docs/abi.md).
;;
;; {"inputs":{"text":"..."}} -> {"ok":{"text":"..."}} with ASCII a-z
;; uppercased. The string is copied as JSON text: an escape (\n, \", \\,
;; \u00e9) is copied verbatim, so the letter after a backslash and the hex
;; digits of \uXXXX keep their case; bytes >= 0x80 (UTF-8) pass unchanged.
(module
  ;; ---- shared ABI v1 helpers: identical in every sample connector ----
  ;;
  ;; Memory map: 64..1023 shared constant strings, 1024..3071 this
  ;; connector's constant strings (NUL-terminated, one per 64-byte slot),
  ;; 3072..3135 scratch for decimal digits, 4096.. a bump heap. Nothing is
  ;; freed during a call; $recycle starts each call from an empty heap, so an
  ;; instance can be reused without its memory growing call after call.
  ;; Positions are i32; -1 means "not found / malformed" and every scanner
  ;; passes -1 through, so a chain of lookups needs one check at its end.

  (memory (export "memory") 1)

  (global $s_inputs i32 (i32.const 64))
  (global $s_err_open i32 (i32.const 128))
  (global $s_err_message i32 (i32.const 192))
  (global $s_err_retryable i32 (i32.const 256))
  (global $s_true i32 (i32.const 320))
  (global $s_false i32 (i32.const 384))
  (global $s_close2 i32 (i32.const 448))
  (global $c_invalid_input i32 (i32.const 512))
  (global $s_null i32 (i32.const 576))
  (data (i32.const 64) "inputs\00")
  (data (i32.const 128) "{\"error\":{\"code\":\"\00")
  (data (i32.const 192) "\",\"message\":\"\00")
  (data (i32.const 256) "\",\"retryable\":\00")
  (data (i32.const 320) "true\00")
  (data (i32.const 384) "false\00")
  (data (i32.const 448) "}}\00")
  (data (i32.const 512) "invalid_input\00")
  (data (i32.const 576) "null\00")

  (global $scratch_end i32 (i32.const 3136))
  (global $heap_base i32 (i32.const 4096))
  (global $heap (mut i32) (i32.const 4096))
  (global $out (mut i32) (i32.const 0))
  (global $out_start (mut i32) (i32.const 0))

  (func (export "lf_abi_version") (result i32)
    (i32.const 1))

  ;; Grows memory so that [0, limit) is addressable; traps if it cannot.
  (func $ensure (param $limit i32)
    (local $have i32)
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $limit) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow
                (i32.shr_u
                  (i32.add (i32.sub (local.get $limit) (local.get $have)) (i32.const 65535))
                  (i32.const 16)))
              (i32.const -1))
          (then (unreachable))))))

  (func $lf_alloc (export "lf_alloc") (param $len i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap
      (i32.and (i32.add (i32.add (local.get $ptr) (local.get $len)) (i32.const 7)) (i32.const -8)))
    (call $ensure (global.get $heap))
    (local.get $ptr))

  ;; Called first by lf_invoke: when a call starts, the only live bytes on
  ;; the heap are its input (the previous call's output has been read), so
  ;; the input moves to the heap's base and the rest is reused. Returns the
  ;; input's new address. Input not allocated on the heap stays where it is.
  (func $recycle (param $ptr i32) (param $len i32) (result i32)
    (if (i32.lt_u (local.get $ptr) (global.get $heap_base))
      (then (return (local.get $ptr))))
    (memory.copy (global.get $heap_base) (local.get $ptr) (local.get $len))
    (global.set $heap
      (i32.and (i32.add (i32.add (global.get $heap_base) (local.get $len)) (i32.const 7))
        (i32.const -8)))
    (global.get $heap_base))

  ;; The output writer: $out_begin, then $emit*, then $out_end, which keeps
  ;; the bytes on the heap and returns them packed as ptr << 32 | len. No
  ;; allocation may happen in between.
  (func $out_begin
    (global.set $out (global.get $heap))
    (global.set $out_start (global.get $heap)))

  (func $emit (param $byte i32)
    (call $ensure (i32.add (global.get $out) (i32.const 1)))
    (i32.store8 (global.get $out) (local.get $byte))
    (global.set $out (i32.add (global.get $out) (i32.const 1))))

  (func $emit_range (param $p i32) (param $n i32)
    (call $ensure (i32.add (global.get $out) (local.get $n)))
    (memory.copy (global.get $out) (local.get $p) (local.get $n))
    (global.set $out (i32.add (global.get $out) (local.get $n))))

  (func $emit_cstr (param $s i32)
    (call $emit_range (local.get $s) (call $strlen (local.get $s))))

  ;; Decimal, with a leading '-' when negative (i64::MIN included).
  (func $emit_i64 (param $n i64)
    (local $p i32) (local $u i64)
    (local.set $p (global.get $scratch_end))
    (local.set $u (local.get $n))
    (if (i64.lt_s (local.get $n) (i64.const 0))
      (then (local.set $u (i64.sub (i64.const 0) (local.get $n)))))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $u) (i64.const 10)))))
      (local.set $u (i64.div_u (local.get $u) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $u) (i64.const 0))))
    (if (i64.lt_s (local.get $n) (i64.const 0))
      (then (call $emit (i32.const 45))))
    (call $emit_range (local.get $p) (i32.sub (global.get $scratch_end) (local.get $p))))

  (func $out_end (result i64)
    (global.set $heap
      (i32.and (i32.add (global.get $out) (i32.const 7)) (i32.const -8)))
    (call $ensure (global.get $heap))
    (i64.or
      (i64.shl (i64.extend_i32_u (global.get $out_start)) (i64.const 32))
      (i64.extend_i32_u (i32.sub (global.get $out) (global.get $out_start)))))

  ;; {"error":{"code":"<code>","message":"<prefix><detail>","retryable":<bool>}}
  ;; <code> and <prefix> are constant strings; <detail> is the raw content of
  ;; a JSON string (escapes kept), so the message stays valid JSON.
  (func $fail_with (param $code i32) (param $prefix i32) (param $detail i32) (param $detail_len i32)
                   (param $retryable i32) (result i64)
    (call $out_begin)
    (call $emit_cstr (global.get $s_err_open))
    (call $emit_cstr (local.get $code))
    (call $emit_cstr (global.get $s_err_message))
    (call $emit_cstr (local.get $prefix))
    (call $emit_range (local.get $detail) (local.get $detail_len))
    (call $emit_cstr (global.get $s_err_retryable))
    (if (local.get $retryable)
      (then (call $emit_cstr (global.get $s_true)))
      (else (call $emit_cstr (global.get $s_false))))
    (call $emit_cstr (global.get $s_close2))
    (call $out_end))

  (func $fail (param $code i32) (param $message i32) (param $retryable i32) (result i64)
    (call $fail_with (local.get $code) (local.get $message) (i32.const 0) (i32.const 0)
      (local.get $retryable)))

  (func $strlen (param $s i32) (result i32)
    (local $p i32)
    (local.set $p (local.get $s))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (i32.sub (local.get $p) (local.get $s)))

  ;; Whether [a, a + a_len) and the constant string $s hold the same bytes.
  (func $equals (param $a i32) (param $a_len i32) (param $s i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $a_len) (call $strlen (local.get $s)))
      (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $a_len)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $s) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  ;; ---- JSON scanning over [p, end) ----

  ;; The byte at p, or -1 at or past the end (and for p = -1).
  (func $peek (param $p i32) (param $end i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $p) (local.get $end))
      (then (i32.load8_u (local.get $p)))
      (else (i32.const -1))))

  (func $skip_ws (param $p i32) (param $end i32) (result i32)
    (local $c i32)
    (block $done
      (loop $next
        (local.set $c (call $peek (local.get $p) (local.get $end)))
        (br_if $done
          (i32.eqz
            (i32.or
              (i32.or (i32.eq (local.get $c) (i32.const 32)) (i32.eq (local.get $c) (i32.const 9)))
              (i32.or (i32.eq (local.get $c) (i32.const 10)) (i32.eq (local.get $c) (i32.const 13))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (local.get $p))

  ;; p at an opening quote: the position after the closing quote, or -1.
  (func $skip_string (param $p i32) (param $end i32) (result i32)
    (local $c i32)
    (if (i32.ne (call $peek (local.get $p) (local.get $end)) (i32.const 34))
      (then (return (i32.const -1))))
    (local.set $p (i32.add (local.get $p) (i32.const 1)))
    (loop $next
      (local.set $c (call $peek (local.get $p) (local.get $end)))
      (if (i32.eq (local.get $c) (i32.const -1))
        (then (return (i32.const -1))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (if (i32.eq (local.get $c) (i32.const 34))
        (then (return (local.get $p))))
      ;; a backslash escapes the next byte; \uXXXX's digits need no care
      (if (i32.eq (local.get $c) (i32.const 92))
        (then (local.set $p (i32.add (local.get $p) (i32.const 1)))))
      (br $next))
    (unreachable))

  ;; A byte of a number or of true/false/null.
  (func $is_scalar_byte (param $c i32) (result i32)
    (i32.or
      (i32.or
        (i32.lt_u (i32.sub (local.get $c) (i32.const 48)) (i32.const 10))
        (i32.lt_u (i32.sub (local.get $c) (i32.const 97)) (i32.const 26)))
      (i32.or
        (i32.or (i32.eq (local.get $c) (i32.const 45)) (i32.eq (local.get $c) (i32.const 43)))
        (i32.or (i32.eq (local.get $c) (i32.const 46)) (i32.eq (local.get $c) (i32.const 69))))))

  ;; p at the first byte of a value: the position after the value, or -1.
  ;; Containers are matched by depth, skipping strings; scalars are a run of
  ;; number/literal bytes. It finds a value's extent; it does not validate it.
  (func $skip_value (param $p i32) (param $end i32) (result i32)
    (local $c i32) (local $depth i32) (local $start i32)
    (local.set $c (call $peek (local.get $p) (local.get $end)))
    (if (i32.eq (local.get $c) (i32.const 34))
      (then (return (call $skip_string (local.get $p) (local.get $end)))))
    (if (i32.or (i32.eq (local.get $c) (i32.const 123)) (i32.eq (local.get $c) (i32.const 91)))
      (then
        (loop $next
          (local.set $c (call $peek (local.get $p) (local.get $end)))
          (if (i32.eq (local.get $c) (i32.const -1))
            (then (return (i32.const -1))))
          (if (i32.eq (local.get $c) (i32.const 34))
            (then
              (local.set $p (call $skip_string (local.get $p) (local.get $end)))
              (br $next)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (if (i32.or (i32.eq (local.get $c) (i32.const 123)) (i32.eq (local.get $c) (i32.const 91)))
            (then (local.set $depth (i32.add (local.get $depth) (i32.const 1)))))
          (if (i32.or (i32.eq (local.get $c) (i32.const 125)) (i32.eq (local.get $c) (i32.const 93)))
            (then
              (local.set $depth (i32.sub (local.get $depth) (i32.const 1)))
              (if (i32.eqz (local.get $depth))
                (then (return (local.get $p))))))
          (br $next))))
    (local.set $start (local.get $p))
    (block $done
      (loop $next
        (br_if $done
          (i32.eqz (call $is_scalar_byte (call $peek (local.get $p) (local.get $end)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (if (result i32) (i32.eq (local.get $p) (local.get $start))
      (then (i32.const -1))
      (else (local.get $p))))

  ;; p at '{': the position of the value of member $key (a constant string),
  ;; or -1 if the object has no such member or is malformed.
  (func $find_field (param $p i32) (param $end i32) (param $key i32) (result i32)
    (local $name i32) (local $after i32)
    (if (i32.ne (call $peek (local.get $p) (local.get $end)) (i32.const 123))
      (then (return (i32.const -1))))
    (local.set $p (i32.add (local.get $p) (i32.const 1)))
    (loop $member
      (local.set $p (call $skip_ws (local.get $p) (local.get $end)))
      (local.set $name (i32.add (local.get $p) (i32.const 1)))
      ;; an empty object's '}' fails here too
      (local.set $after (call $skip_string (local.get $p) (local.get $end)))
      (if (i32.eq (local.get $after) (i32.const -1))
        (then (return (i32.const -1))))
      (local.set $p (call $skip_ws (local.get $after) (local.get $end)))
      (if (i32.ne (call $peek (local.get $p) (local.get $end)) (i32.const 58))
        (then (return (i32.const -1))))
      (local.set $p (call $skip_ws (i32.add (local.get $p) (i32.const 1)) (local.get $end)))
      (if (call $equals (local.get $name)
                        (i32.sub (i32.sub (local.get $after) (i32.const 1)) (local.get $name))
                        (local.get $key))
        (then (return (local.get $p))))
      (local.set $p
        (call $skip_ws (call $skip_value (local.get $p) (local.get $end)) (local.get $end)))
      (if (i32.eq (call $peek (local.get $p) (local.get $end)) (i32.const 44))
        (then
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $member))))
    (i32.const -1))

  ;; The "inputs" object of the call's {"inputs":{...}} document, or -1.
  (func $input_object (param $p i32) (param $end i32) (result i32)
    (local $v i32)
    (local.set $v
      (call $find_field (call $skip_ws (local.get $p) (local.get $end)) (local.get $end)
        (global.get $s_inputs)))
    (if (result i32) (i32.eq (call $peek (local.get $v) (local.get $end)) (i32.const 123))
      (then (local.get $v))
      (else (i32.const -1))))

  ;; [p, end) as -?[0-9]{1,18} (always within i64): (value, 1), else (0, 0).
  (func $parse_int (param $p i32) (param $end i32) (result i64 i32)
    (local $negative i32) (local $n i64) (local $digit i32) (local $count i32)
    (if (i32.or (i32.eq (local.get $p) (i32.const -1)) (i32.eq (local.get $end) (i32.const -1)))
      (then (return (i64.const 0) (i32.const 0))))
    (if (i32.eq (call $peek (local.get $p) (local.get $end)) (i32.const 45))
      (then
        (local.set $negative (i32.const 1))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $digit (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (if (i32.gt_u (local.get $digit) (i32.const 9))
          (then (return (i64.const 0) (i32.const 0))))
        (local.set $n
          (i64.add (i64.mul (local.get $n) (i64.const 10)) (i64.extend_i32_u (local.get $digit))))
        (local.set $count (i32.add (local.get $count) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (if (i32.or (i32.eqz (local.get $count)) (i32.gt_u (local.get $count) (i32.const 18)))
      (then (return (i64.const 0) (i32.const 0))))
    (if (local.get $negative)
      (then (local.set $n (i64.sub (i64.const 0) (local.get $n)))))
    (local.get $n)
    (i32.const 1))

  ;; Unpacks a host reply ptr << 32 | len into its start; $reply_end gives the end.
  (func $reply_start (param $packed i64) (result i32)
    (i32.wrap_i64 (i64.shr_u (local.get $packed) (i64.const 32))))

  (func $reply_end (param $packed i64) (result i32)
    (i32.add (call $reply_start (local.get $packed)) (i32.wrap_i64 (local.get $packed))))

  ;; ---- end of shared helpers ----

  (global $k_text i32 (i32.const 1024))
  (global $s_ok_text i32 (i32.const 1088))
  (global $s_end_text i32 (i32.const 1152))
  (global $m_text i32 (i32.const 1216))
  (data (i32.const 1024) "text\00")
  (data (i32.const 1088) "{\"ok\":{\"text\":\"\00")
  (data (i32.const 1152) "\"}}\00")
  (data (i32.const 1216) "input `text` must be a string\00")

  (func (export "lf_invoke") (param $ptr i32) (param $len i32) (result i64)
    (local $end i32) (local $p i32) (local $q i32) (local $c i32) (local $n i32)
    (local.set $ptr (call $recycle (local.get $ptr) (local.get $len)))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (local.set $p
      (call $find_field (call $input_object (local.get $ptr) (local.get $end)) (local.get $end)
        (global.get $k_text)))
    (local.set $q (call $skip_string (local.get $p) (local.get $end)))
    (if (i32.eq (local.get $q) (i32.const -1))
      (then (return (call $fail (global.get $c_invalid_input) (global.get $m_text) (i32.const 0)))))
    (call $out_begin)
    (call $emit_cstr (global.get $s_ok_text))
    ;; the string's content: after the opening quote, before the closing one
    (local.set $p (i32.add (local.get $p) (i32.const 1)))
    (local.set $q (i32.sub (local.get $q) (i32.const 1)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $q)))
        (local.set $c (i32.load8_u (local.get $p)))
        (if (i32.eq (local.get $c) (i32.const 92))
          (then
            ;; an escape: the backslash and its letter, plus four hex digits after \u
            (local.set $n
              (select (i32.const 6) (i32.const 2)
                (i32.eq (i32.load8_u (i32.add (local.get $p) (i32.const 1))) (i32.const 117))))
            (if (i32.gt_u (local.get $n) (i32.sub (local.get $q) (local.get $p)))
              (then (local.set $n (i32.sub (local.get $q) (local.get $p)))))
            (call $emit_range (local.get $p) (local.get $n))
            (local.set $p (i32.add (local.get $p) (local.get $n)))
            (br $next)))
        (if (i32.lt_u (i32.sub (local.get $c) (i32.const 97)) (i32.const 26))
          (then (local.set $c (i32.sub (local.get $c) (i32.const 32)))))
        (call $emit (local.get $c))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (call $emit_cstr (global.get $s_end_text))
    (call $out_end))
)
