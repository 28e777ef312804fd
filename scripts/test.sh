#!/usr/bin/env bash
# Runs every test: lit (passes, conversions, error messages), gtest (readers,
# runtime) and pytest (end-to-end numerics against ONNX Runtime). Installs and
# builds first if needed. Exits non-zero when anything fails.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${LORA_BUILD_DIR:-$ROOT/build}"
VENV="${LORA_VENV:-$HOME/.cache/lora-opt/venv}"
export LORA_BUILD_DIR="$BUILD_DIR"

"$ROOT/scripts/setup.sh" || exit 1

status=0
echo "== lit"
/usr/lib/llvm-22/bin/lit -sv "$BUILD_DIR/test" || status=1
echo "== gtest"
"$BUILD_DIR/bin/lora-unittests" --gtest_brief=1 || status=1
# The tests that need a CUDA driver, again on the fake libcuda.so.1 of
# test/lib/FakeCuda (built where cuda.h was found), which checks every call.
if [ -e "$BUILD_DIR/lib/fake-cuda/libcuda.so.1" ]; then
  echo "== gtest on the fake CUDA driver"
  LD_LIBRARY_PATH="$BUILD_DIR/lib/fake-cuda${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$BUILD_DIR/bin/lora-unittests" --gtest_brief=1 \
    --gtest_filter='CudaDevice.*:CudaRuntimeLibrary.*' || status=1
fi
echo "== pytest"
(cd "$ROOT" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider test/python) || status=1
if [ $status -ne 0 ]; then
  echo "== FAILED"
else
  echo "== all tests passed"
fi
exit $status
