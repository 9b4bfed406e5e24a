#!/usr/bin/env bash
# Runs every kernel of cuda/*.cu as C++ on a CPU emulator of the CUDA execution model (cuda/emu/emu.h: threads
# as OS threads, block barriers, warp shuffles) against plain-loop references (cuda/emu/test.cpp). No GPU and no
# CUDA toolkit needed, only a C++20 compiler. Checks index arithmetic and reductions of the sources the PTX is
# generated from; it is no substitute for the GPU parity tests (tests/gpu.rs).
#
# Exit status: 0 all match, 1 a mismatch or compile error, 3 no C++20 compiler (CI skips).
set -euo pipefail
cd "$(dirname "$0")/.."
cxx="${CXX:-g++}"
if ! command -v "$cxx" >/dev/null 2>&1; then
    echo "emulate-kernels: SKIPPED: no C++ compiler ($cxx) found" >&2
    exit 3
fi
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
"$cxx" -std=c++20 -O1 -pthread -Wall -o "$bin/emu-test" cuda/emu/test.cpp
"$bin/emu-test"
