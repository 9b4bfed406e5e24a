#!/usr/bin/env bash
# Regenerates the checked-in PTX (cuda/ptx/*.ptx) from cuda/*.cu with a pinned nvcc, or checks it.
#
#   scripts/gen-ptx.sh            regenerate cuda/ptx/
#   scripts/gen-ptx.sh --check    regenerate into a temporary folder and diff against cuda/ptx/ (exit 1 on a
#                                 difference); also assembles every PTX file with ptxas for sm_80 and sm_90
#
# nvcc comes from PyPI, pinned exactly and installed with --no-deps into a virtual environment under
# $NEUROSPLIT_NVCC_VENV (default: ${XDG_CACHE_HOME:-$HOME/.cache}/neurosplit/nvcc-13.0.88), created on first use
# (about 100 MB downloaded). Point NEUROSPLIT_NVCC_VENV at an existing environment to reuse it.
#
# Exit status: 0 ok, 1 mismatch or compile error, 3 nvcc is not installed and PyPI cannot be reached (CI skips).
set -euo pipefail
cd "$(dirname "$0")/.."

NVCC_PACKAGES=(nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-runtime==13.0.96 nvidia-cuda-crt==13.0.88)
# Pinned code generation: virtual architecture compute_80 (A100 and newer; the driver JIT-compiles it for the
# GPU at hand), PTX only. nvcc 13.0 writes PTX ISA 9.0 for this target, which the 580 driver (CUDA 13.0) loads;
# the script refuses any other `.version`. (Should a newer nvcc be pinned, its default ISA would be newer: keep
# `.version 9.0` by pinning nvcc 13.0.x, as no nvcc flag lowers the ISA of the PTX it emits.)
NVCC_FLAGS=(-arch=compute_80 -ptx -std=c++17 -O3)
PTX_VERSION=9.0

check=0
case "${1:-}" in
    --check) check=1 ;;
    "") ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

venv="${NEUROSPLIT_NVCC_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/neurosplit/nvcc-13.0.88}"
find_nvcc() { [[ -d "$venv" ]] && find "$venv" -path '*/nvidia/cu13/bin/nvcc' -type f 2>/dev/null | head -n 1 || true; }
nvcc="$(find_nvcc)"
if [[ -z "$nvcc" ]]; then
    echo "gen-ptx: installing ${NVCC_PACKAGES[*]} into $venv"
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
        "${NVCC_PACKAGES[@]}"; }; then
        if ! python3 -c 'import urllib.request; urllib.request.urlopen("https://pypi.org/simple/nvidia-cuda-nvcc/", timeout=20)' \
            >/dev/null 2>&1; then
            echo "gen-ptx: SKIPPED: nvcc is not installed and PyPI (pypi.org) cannot be reached" >&2
            exit 3
        fi
        echo "gen-ptx: installing nvcc failed although PyPI is reachable" >&2
        exit 1
    fi
    nvcc="$(find_nvcc)"
fi
bin="$(dirname "$nvcc")"
"$nvcc" --version | grep -q 'release 13.0, V13.0.88' || { echo "gen-ptx: $nvcc is not nvcc 13.0.88" >&2; exit 1; }

out=cuda/ptx
if [[ $check == 1 ]]; then
    out="$(mktemp -d)"
    trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

status=0
cd cuda
for cu in *.cu; do
    ptx="$out/${cu%.cu}.ptx"
    "$nvcc" "${NVCC_FLAGS[@]}" "$cu" -o "$ptx"
    version="$(awk '$1 == ".version" { print $2; exit }' "$ptx")"
    if [[ "$version" != "$PTX_VERSION" ]]; then
        echo "gen-ptx: $cu: PTX ISA $version, expected $PTX_VERSION" >&2
        status=1
    fi
done
cd ..

if [[ $check == 1 ]]; then
    if ! diff -r -u cuda/ptx "$out"; then
        echo "gen-ptx: cuda/ptx is out of date: run scripts/gen-ptx.sh and commit the result" >&2
        status=1
    fi
    # Assemble for real targets: catches PTX that the driver's JIT would reject (no GPU needed).
    for ptx in cuda/ptx/*.ptx; do
        for sm in sm_80 sm_90; do
            "$bin/ptxas" -arch="$sm" "$ptx" -o /dev/null || { echo "gen-ptx: ptxas $sm rejects $ptx" >&2; status=1; }
        done
    done
    [[ $status == 0 ]] && echo "gen-ptx: cuda/ptx matches cuda/*.cu (nvcc 13.0.88, PTX ISA $PTX_VERSION) and assembles for sm_80, sm_90"
fi
exit $status
