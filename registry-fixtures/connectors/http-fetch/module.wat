;; http-fetch: connector.latticeflow.http.fetch, ABI v1 (docs/abi.md).
;;
;; {"inputs":{"url":"..."}} -> calls lf:cap http_read with
;; {"method":"GET","url":"..."} -> {"ok":{"status":<int>,"body":"..."}}.
;; A host {"error":{...}} becomes error http_failed (retryable), carrying the
;; host's message; a reply of any other shape becomes bad_host_reply.
(module
  (import "lf:cap" "http_read" (func $http_read (param i32 i32) (result i64)))

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

  (global $k_url i32 (i32.const 1024))
  (global $k_ok i32 (i32.const 1088))
  (global $k_error i32 (i32.const 1152))
  (global $k_status i32 (i32.const 1216))
  (global $k_body i32 (i32.const 1280))
  (global $k_message i32 (i32.const 1344))
  (global $s_request i32 (i32.const 1408))
  (global $s_close1 i32 (i32.const 1472))
  (global $s_ok_status i32 (i32.const 1536))
  (global $s_body i32 (i32.const 1600))
  (global $c_http_failed i32 (i32.const 1664))
  (global $c_bad_host_reply i32 (i32.const 1728))
  (global $m_url i32 (i32.const 1792))
  (global $m_http_failed i32 (i32.const 1856))
  (global $m_bad_host_reply i32 (i32.const 1920))
  (global $m_http_failed_bare i32 (i32.const 1984))
  (data (i32.const 1024) "url\00")
  (data (i32.const 1088) "ok\00")
  (data (i32.const 1152) "error\00")
  (data (i32.const 1216) "status\00")
  (data (i32.const 1280) "body\00")
  (data (i32.const 1344) "message\00")
  (data (i32.const 1408) "{\"method\":\"GET\",\"url\":\00")
  (data (i32.const 1472) "}\00")
  (data (i32.const 1536) "{\"ok\":{\"status\":\00")
  (data (i32.const 1600) ",\"body\":\00")
  (data (i32.const 1664) "http_failed\00")
  (data (i32.const 1728) "bad_host_reply\00")
  (data (i32.const 1792) "input `url` must be a string\00")
  (data (i32.const 1856) "http_read failed: \00")
  (data (i32.const 1920) "http_read reply is neither ok {status, body} nor error\00")
  (data (i32.const 1984) "http_read failed\00")

  (func (export "lf_invoke") (param $ptr i32) (param $len i32) (result i64)
    (local $end i32) (local $url i32) (local $url_end i32) (local $request i64) (local $reply i64)
    (local $r i32) (local $r_end i32) (local $ok i32) (local $error i32)
    (local $status_at i32) (local $status i64) (local $status_ok i32)
    (local $body i32) (local $body_end i32)
    (local $message i32) (local $message_end i32)
    (local.set $ptr (call $recycle (local.get $ptr) (local.get $len)))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (local.set $url
      (call $find_field (call $input_object (local.get $ptr) (local.get $end)) (local.get $end)
        (global.get $k_url)))
    (local.set $url_end (call $skip_string (local.get $url) (local.get $end)))
    (if (i32.eq (local.get $url_end) (i32.const -1))
      (then (return (call $fail (global.get $c_invalid_input) (global.get $m_url) (i32.const 0)))))

    ;; the request reuses the URL's JSON string as it came
    (call $out_begin)
    (call $emit_cstr (global.get $s_request))
    (call $emit_range (local.get $url) (i32.sub (local.get $url_end) (local.get $url)))
    (call $emit_cstr (global.get $s_close1))
    (local.set $request (call $out_end))
    (local.set $reply
      (call $http_read
        (i32.wrap_i64 (i64.shr_u (local.get $request) (i64.const 32)))
        (i32.wrap_i64 (local.get $request))))
    (local.set $r_end (call $reply_end (local.get $reply)))
    (local.set $r (call $skip_ws (call $reply_start (local.get $reply)) (local.get $r_end)))

    (local.set $ok (call $find_field (local.get $r) (local.get $r_end) (global.get $k_ok)))
    (if (i32.ne (local.get $ok) (i32.const -1))
      (then
        (local.set $body (call $find_field (local.get $ok) (local.get $r_end) (global.get $k_body)))
        (local.set $body_end (call $skip_string (local.get $body) (local.get $r_end)))
        (local.set $status_at
          (call $find_field (local.get $ok) (local.get $r_end) (global.get $k_status)))
        (call $parse_int (local.get $status_at)
          (call $skip_value (local.get $status_at) (local.get $r_end)))
        (local.set $status_ok)
        (local.set $status)
        (if (i32.or (i32.eqz (local.get $status_ok)) (i32.eq (local.get $body_end) (i32.const -1)))
          (then
            (return
              (call $fail (global.get $c_bad_host_reply) (global.get $m_bad_host_reply) (i32.const 0)))))
        (call $out_begin)
        (call $emit_cstr (global.get $s_ok_status))
        (call $emit_i64 (local.get $status))
        (call $emit_cstr (global.get $s_body))
        (call $emit_range (local.get $body) (i32.sub (local.get $body_end) (local.get $body)))
        (call $emit_cstr (global.get $s_close2))
        (return (call $out_end))))

    (local.set $error (call $find_field (local.get $r) (local.get $r_end) (global.get $k_error)))
    (if (i32.ne (local.get $error) (i32.const -1))
      (then
        (local.set $message
          (call $find_field (local.get $error) (local.get $r_end) (global.get $k_message)))
        (local.set $message_end (call $skip_string (local.get $message) (local.get $r_end)))
        (if (i32.eq (local.get $message_end) (i32.const -1))
          (then
            (return
              (call $fail (global.get $c_http_failed) (global.get $m_http_failed_bare) (i32.const 1)))))
        ;; the message's content, without its quotes
        (return
          (call $fail_with (global.get $c_http_failed) (global.get $m_http_failed)
            (i32.add (local.get $message) (i32.const 1))
            (i32.sub (i32.sub (local.get $message_end) (local.get $message)) (i32.const 2))
            (i32.const 1)))))
    (call $fail (global.get $c_bad_host_reply) (global.get $m_bad_host_reply) (i32.const 0)))
)
