;; RETR's encoding (message_encoder.ts) in WebAssembly with 16-octet SIMD: bare LF becomes
;; CRLF (an existing CRLF is kept), a line starting with "." gets one more. The message
;; piece is at 0 (at most 131072 octets, MESSAGE_READ_CHUNK); the output goes to 131072
;; (at most 2n octets, plus 16 the vector stores may write past the end). `state` carries
;; across pieces: bit 0 "at the start of a line", bit 1 "the line so far ends with CR".
;; Built with wat2wasm (wabt); message_encoder_wasm.ts holds the bytes.
(module
  (memory (export "memory") 7)
  (func (export "encode") (param $n i32) (param $state i32) (result i32)
    (local $i i32) (local $o i32) (local $mask i32) (local $lf i32) (local $v v128)
    (local.set $o (i32.const 131072))
    (if (i32.eqz (local.get $n)) (then (return (i32.const 0))))
    ;; A dot at the very start of the piece, at the start of a line.
    (if (i32.and (local.get $state) (i32.const 1))
      (then
        (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 46))
          (then
            (i32.store8 (local.get $o) (i32.const 46))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))))))
    (block $end
      (loop $scan
        ;; 16 octets at a time while they are there: stored as they are, then fixed up at an LF.
        (if (i32.le_u (i32.add (local.get $i) (i32.const 16)) (local.get $n))
          (then
            (local.set $v (v128.load (local.get $i)))
            (v128.store (local.get $o) (local.get $v))
            (local.set $mask (i8x16.bitmask (i8x16.eq (local.get $v) (i8x16.splat (i32.const 10)))))
            (if (i32.eqz (local.get $mask))
              (then
                (local.set $i (i32.add (local.get $i) (i32.const 16)))
                (local.set $o (i32.add (local.get $o) (i32.const 16)))
                (br $scan)))
            (local.set $lf (i32.add (local.get $i) (i32.ctz (local.get $mask)))))
          (else
            ;; Fewer than 16 left: the next LF one octet at a time, or the rest copied.
            (local.set $lf (local.get $i))
            (block $found
              (loop $byte
                (br_if $found (i32.ge_u (local.get $lf) (local.get $n)))
                (br_if $found (i32.eq (i32.load8_u (local.get $lf)) (i32.const 10)))
                (i32.store8
                  (i32.add (local.get $o) (i32.sub (local.get $lf) (local.get $i)))
                  (i32.load8_u (local.get $lf)))
                (local.set $lf (i32.add (local.get $lf) (i32.const 1)))
                (br $byte)))
            (if (i32.ge_u (local.get $lf) (local.get $n))
              (then
                (local.set $o (i32.add (local.get $o) (i32.sub (local.get $n) (local.get $i))))
                (br $end)))))
        ;; An LF at $lf: the octets before it are in place.
        (local.set $o (i32.add (local.get $o) (i32.sub (local.get $lf) (local.get $i))))
        (if (if (result i32) (i32.gt_u (local.get $lf) (i32.const 0))
              (then (i32.ne (i32.load8_u (i32.sub (local.get $lf) (i32.const 1))) (i32.const 13)))
              (else (i32.eqz (i32.and (local.get $state) (i32.const 2)))))
          (then
            (i32.store8 (local.get $o) (i32.const 13))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))))
        (i32.store8 (local.get $o) (i32.const 10))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (local.set $i (i32.add (local.get $lf) (i32.const 1)))
        (br_if $end (i32.ge_u (local.get $i) (local.get $n)))
        ;; The next line starts with a dot: one more.
        (if (i32.eq (i32.load8_u (local.get $i)) (i32.const 46))
          (then
            (i32.store8 (local.get $o) (i32.const 46))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))))
        (br $scan)))
    (i32.sub (local.get $o) (i32.const 131072)))
)
