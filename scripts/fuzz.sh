#!/usr/bin/env bash
# Builds the ONNX importer's libFuzzer target with clang, ASan and UBSan and
# runs it for a while on a corpus seeded with real exported models.
#   scripts/fuzz.sh [SECONDS]      (default 300)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${LORA_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
SECONDS_TO_RUN="${1:-300}"
CORPUS="$BUILD/corpus"

if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -G Ninja -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit -DLORA_ENABLE_FUZZER=ON >/dev/null
fi
ninja -C "$BUILD" -j2 lora-import-fuzzer

mkdir -p "$CORPUS"
VENV="${LORA_VENV:-$HOME/.cache/lora-opt/venv}"
"$VENV/bin/python" "$ROOT/test/fuzz/make_seeds.py" "$CORPUS"

# libMLIR is not instrumented; leaks from its uniquers are not ours.
ASAN_OPTIONS=detect_leaks=0 "$BUILD/bin/lora-import-fuzzer" "$CORPUS" \
  -max_total_time="$SECONDS_TO_RUN" -max_len=16384 -rss_limit_mb=4096 \
  -print_final_stats=1 2>&1 | tail -25
