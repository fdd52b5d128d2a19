;; probe: a test function for upstream's RUST_WASM ABI, written by hand so
;; that the tests reach every import and every return kind. The first byte of
;; a payload is a command, the rest its argument. A bump allocator that
;; edgeless_mem_clear resets (like upstream's no_std arena).
;;
;; casts: c cast("out", arg)          r cast_raw(source, arg)
;;        C call("out", arg) -> cast("result", [ret] ++ reply)
;;        R call_raw(source, arg) -> cast("result", [ret] ++ reply)
;;        x call("nosuch", arg) -> cast("result", [ret])
;;        d delayed_cast(20 ms, "out", arg)     D delayed_cast(10 s, "out", arg)
;;        l log(level arg[0]-'0', "probe", arg[1:])
;;        s slf -> cast("out", node ++ component)   i cast("out", source node ++ component)
;;        S sync(arg)    t trap (unreachable)    L endless loop
;;        g memory.grow(arg[0]) -> cast("out", i32 LE result)
;;        B cast("out", arg) with out-of-range payload pointer
;; calls: e reply arg   n no reply   E err   C call("out", arg) -> reply
;;        [ret] ++ reply   t trap   L endless loop   anything else: ret 7 (Err)
(module
  (import "env" "cast_asm" (func $cast (param i32 i32 i32 i32)))
  (import "env" "cast_raw_asm" (func $cast_raw (param i32 i32 i32 i32)))
  (import "env" "call_asm" (func $call (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "call_raw_asm" (func $call_raw (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "telemetry_log_asm" (func $log (param i32 i32 i32 i32 i32)))
  (import "env" "slf_asm" (func $slf (param i32 i32)))
  (import "env" "delayed_cast_asm" (func $delayed (param i64 i32 i32 i32 i32)))
  (import "env" "sync_asm" (func $sync (param i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "out")       ;; 16, 3
  (data (i32.const 24) "result")    ;; 24, 6
  (data (i32.const 32) "nosuch")    ;; 32, 6
  (data (i32.const 40) "probe")     ;; 40, 5
  (data (i32.const 48) "init")      ;; 48, 4
  (data (i32.const 56) "state")     ;; 56, 5
  (data (i32.const 64) "stop")      ;; 64, 4

  (func $alloc (export "edgeless_mem_alloc") (param $n i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.and (i32.add (i32.add (local.get $p) (local.get $n)) (i32.const 3)) (i32.const -4)))
    (block $ok
      (br_if $ok (i32.le_u (local.get $end) (i32.mul (memory.size) (i32.const 65536))))
      (br_if $ok (i32.ne (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1))) (i32.const -1)))
      unreachable)
    (global.set $heap (local.get $end))
    (local.get $p))
  (func (export "edgeless_mem_free") (param i32 i32))
  (func (export "edgeless_mem_clear") (global.set $heap (i32.const 1024)))

  (func (export "handle_init_asm") (param $pp i32) (param $pl i32) (param $sp i32) (param $sl i32)
    (call $log (i32.const 3) (i32.const 48) (i32.const 4) (local.get $pp) (local.get $pl))
    (if (i32.ne (local.get $sl) (i32.const 0))
      (then (call $log (i32.const 3) (i32.const 56) (i32.const 5) (local.get $sp) (local.get $sl)))))

  (func (export "handle_stop_asm")
    (call $log (i32.const 3) (i32.const 64) (i32.const 4) (i32.const 64) (i32.const 4)))

  ;; result casts [ret] ++ reply (reply at *slots, length at *(slots+4) when ret is 1) to "result".
  (func $report (param $ret i32) (param $slots i32)
    (local $n i32) (local $b i32)
    (if (i32.eq (local.get $ret) (i32.const 1))
      (then (local.set $n (i32.load offset=4 (local.get $slots)))))
    (local.set $b (call $alloc (i32.add (local.get $n) (i32.const 1))))
    (i32.store8 (local.get $b) (local.get $ret))
    (if (i32.eq (local.get $ret) (i32.const 1))
      (then (memory.copy (i32.add (local.get $b) (i32.const 1)) (i32.load (local.get $slots)) (local.get $n))))
    (call $cast (i32.const 24) (i32.const 6) (local.get $b) (i32.add (local.get $n) (i32.const 1))))

  (func (export "handle_cast_asm") (param $np i32) (param $cp i32) (param $pp i32) (param $pl i32)
    (local $op i32) (local $a i32) (local $al i32) (local $slots i32) (local $b i32)
    (if (i32.eqz (local.get $pl)) (then (return)))
    (local.set $op (i32.load8_u (local.get $pp)))
    (local.set $a (i32.add (local.get $pp) (i32.const 1)))
    (local.set $al (i32.sub (local.get $pl) (i32.const 1)))
    (local.set $slots (call $alloc (i32.const 8)))
    (block $done
      (if (i32.eq (local.get $op) (i32.const 0x63)) ;; c
        (then (call $cast (i32.const 16) (i32.const 3) (local.get $a) (local.get $al)) (br $done)))
      (if (i32.eq (local.get $op) (i32.const 0x72)) ;; r
        (then (call $cast_raw (local.get $np) (local.get $cp) (local.get $a) (local.get $al)) (br $done)))
      (if (i32.eq (local.get $op) (i32.const 0x43)) ;; C
        (then (call $report (call $call (i32.const 16) (i32.const 3) (local.get $a) (local.get $al) (local.get $slots) (i32.add (local.get $slots) (i32.const 4))) (local.get $slots)) (br $done)))
      (if (i32.eq (local.get $op) (i32.const 0x52)) ;; R
        (then (call $report (call $call_raw (local.get $np) (local.get $cp) (local.get $a) (local.get $al) (local.get $slots) (i32.add (local.get $slots) (i32.const 4))) (local.get $slots)) (br $done)))
      (if (i32.eq (local.get $op) (i32.const 0x78)) ;; x
        (then (call $report (call $call (i32.const 32) (i32.const 6) (local.get $a) (local.get $al) (local.get $slots) (i32.add (local.get $slots) (i32.const 4))) (local.get $slots)) (br $done)))
      (if (i32.eq (local.get $op) (i32.const 0x64)) ;; d
        (then (call $delayed (i64.const 20) (i32.const 16) (i32.const 3) (local.get $a) (local.get $al)) (br $done)))
      (if (i32.eq (local.get $op) (i32.const 0x44)) ;; D
        (then (call $delayed (i64.const 10000) (i32.const 16) (i32.const 3) (local.get $a) (local.get $al)) (br $done)))
      (if (i32.eq (local.get $op) (i32.const 0x6c)) ;; l
        (then (call $log (i32.sub (i32.load8_u (local.get $a)) (i32.const 0x30)) (i32.const 40) (i32.const 5)
                (i32.add (local.get $a) (i32.const 1)) (i32.sub (local.get $al) (i32.const 1))) (br $done)))
      (if (i32.eq (local.get $op) (i32.const 0x73)) ;; s
        (then
          (local.set $b (call $alloc (i32.const 32)))
          (call $slf (local.get $b) (i32.add (local.get $b) (i32.const 16)))
          (call $cast (i32.const 16) (i32.const 3) (local.get $b) (i32.const 32)) (br $done)))
      (if (i32.eq (local.get $op) (i32.const 0x69)) ;; i
        (then
          (local.set $b (call $alloc (i32.const 32)))
          (memory.copy (local.get $b) (local.get $np) (i32.const 16))
          (memory.copy (i32.add (local.get $b) (i32.const 16)) (local.get $cp) (i32.const 16))
          (call $cast (i32.const 16) (i32.const 3) (local.get $b) (i32.const 32)) (br $done)))
      (if (i32.eq (local.get $op) (i32.const 0x53)) ;; S
        (then (call $sync (local.get $a) (local.get $al)) (br $done)))
      (if (i32.eq (local.get $op) (i32.const 0x74)) ;; t
        (then unreachable))
      (if (i32.eq (local.get $op) (i32.const 0x4c)) ;; L
        (then (loop $forever (br $forever))))
      (if (i32.eq (local.get $op) (i32.const 0x67)) ;; g
        (then
          (i32.store (local.get $slots) (memory.grow (i32.load8_u (local.get $a))))
          (call $cast (i32.const 16) (i32.const 3) (local.get $slots) (i32.const 4)) (br $done)))
      (if (i32.eq (local.get $op) (i32.const 0x42)) ;; B
        (then (call $cast (i32.const 16) (i32.const 3) (i32.const -16) (i32.const 64)) (br $done)))))

  (func (export "handle_call_asm") (param $np i32) (param $cp i32) (param $pp i32) (param $pl i32) (param $opp i32) (param $olp i32) (result i32)
    (local $op i32) (local $a i32) (local $al i32) (local $slots i32) (local $ret i32) (local $n i32) (local $b i32)
    (if (i32.eqz (local.get $pl)) (then (return (i32.const 7))))
    (local.set $op (i32.load8_u (local.get $pp)))
    (local.set $a (i32.add (local.get $pp) (i32.const 1)))
    (local.set $al (i32.sub (local.get $pl) (i32.const 1)))
    (if (i32.eq (local.get $op) (i32.const 0x65)) ;; e
      (then
        (i32.store (local.get $opp) (local.get $a))
        (i32.store (local.get $olp) (local.get $al))
        (return (i32.const 1))))
    (if (i32.eq (local.get $op) (i32.const 0x6e)) (then (return (i32.const 0)))) ;; n
    (if (i32.eq (local.get $op) (i32.const 0x45)) (then (return (i32.const 2)))) ;; E
    (if (i32.eq (local.get $op) (i32.const 0x74)) (then unreachable)) ;; t
    (if (i32.eq (local.get $op) (i32.const 0x4c)) (then (loop $forever (br $forever)))) ;; L
    (if (i32.eq (local.get $op) (i32.const 0x43)) ;; C
      (then
        (local.set $slots (call $alloc (i32.const 8)))
        (local.set $ret (call $call (i32.const 16) (i32.const 3) (local.get $a) (local.get $al) (local.get $slots) (i32.add (local.get $slots) (i32.const 4))))
        (if (i32.eq (local.get $ret) (i32.const 1))
          (then (local.set $n (i32.load offset=4 (local.get $slots)))))
        (local.set $b (call $alloc (i32.add (local.get $n) (i32.const 1))))
        (i32.store8 (local.get $b) (local.get $ret))
        (if (i32.eq (local.get $ret) (i32.const 1))
          (then (memory.copy (i32.add (local.get $b) (i32.const 1)) (i32.load (local.get $slots)) (local.get $n))))
        (i32.store (local.get $opp) (local.get $b))
        (i32.store (local.get $olp) (i32.add (local.get $n) (i32.const 1)))
        (return (i32.const 1))))
    (i32.const 7))
)
