// The tools on the attn-fuzz findings kept in tools/attn-fuzz/regressions/
// (docs/Reliability.md): each gets a diagnostic and exit 1, no crash. The
// harness bugs behind them (a buffer without a trailing NUL, a null buffer,
// and a sanitizer false positive) are fixed in attn-fuzz.cpp and run.sh.
// RUN: not attn-opt %S/../../tools/attn-fuzz/regressions/mutated-roundtrip-user-poisoning -o /dev/null 2>&1 | FileCheck %s --check-prefix=ROUNDTRIP
// A file that holds only a comment line is an empty module.
// RUN: attn-opt %S/../../tools/attn-fuzz/regressions/pipeline-line-without-newline | FileCheck %s --check-prefix=EMPTY

// ROUNDTRIP: mutated-roundtrip-user-poisoning:47:3: error: custom op 'return' is unknown
// EMPTY: module {
