#!/usr/bin/env bash
# Installs what lora-opt needs on Debian 12 (apt packages, a Python venv with
# pinned packages) and builds it. Safe to run again: each step is skipped when
# already done.
#
#   LORA_BUILD_DIR  build folder            (default: <repo>/build)
#   LORA_VENV       Python virtual env      (default: ~/.cache/lora-opt/venv)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${LORA_BUILD_DIR:-$ROOT/build}"
VENV="${LORA_VENV:-$HOME/.cache/lora-opt/venv}"

APT_PACKAGES=(
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  libonnx-dev libprotobuf-dev protobuf-compiler
  cmake ninja-build ccache g++ clang-19 libclang-rt-19-dev libgtest-dev
  python3-venv
)

log() { echo "[setup] $*"; }

# ccache hits across clones in different folders (CI builds a fresh clone).
export CCACHE_BASEDIR="$ROOT"

install_apt_packages() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "apt packages: all present"
    return
  fi
  log "apt packages: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_venv() {
  local stamp="$VENV/.lora-requirements.sha256"
  local want
  want="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "python venv: up to date ($VENV)"
    return
  fi
  log "python venv: creating $VENV (pinned packages from requirements.txt)"
  # python3 on PATH, not Debian's /usr/bin/python3, as the project requires.
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r "$ROOT/requirements.txt"
  echo "$want" > "$stamp"
}

build() {
  log "building in $BUILD_DIR"
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" \
      -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
      -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
      -DPython3_EXECUTABLE="$VENV/bin/python" >/dev/null
  fi
  ninja -C "$BUILD_DIR" -j2
}

# The lora_opt Python package over the C API libraries just built.
install_python_package() {
  log "python package: lora_opt (python_bindings/) into $VENV"
  LORA_BUILD_DIR="$BUILD_DIR" "$VENV/bin/pip" install -q --no-build-isolation \
    --no-deps "$ROOT/python_bindings"
}

install_apt_packages
install_venv
build
install_python_package
