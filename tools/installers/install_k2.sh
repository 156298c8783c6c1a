#!/usr/bin/env bash
# Install k2 into the venv only when a wheel matching its torch, CUDA and Python is reachable.
# k2 is optional: prefixasr uses fast_rnnt (same pruned RNN-T functions) when k2 is absent.
#
# Usage: tools/installers/install_k2.sh [VENV_DIR]      (default: tools/venv)
#   K2_FIND_LINKS=URL_OR_DIR   where k2 wheels live (default: k2's wheel site for CPU or CUDA)
#
# Why not plain `pip install k2`: PyPI's newest k2 (1.23.4) is a Python 3.9 wheel pinned to
# torch 1.13.1; current wheels are published only on k2's own site, named like
# k2-1.24.4.dev20250807+cuda12.8.torch2.8.0-cp311-cp311-manylinux_2_28_x86_64.whl.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) $*" >&2; }

venv=$(realpath "${1:-$(dirname "$0")/../venv}")
py="${venv}/bin/python"
[ -x "${py}" ] || { log "ERROR: no python at ${py}; run 'make -C tools' first"; exit 1; }
if "${py}" -c "import k2" 2>/dev/null; then
  log "k2 already importable; nothing to do"; exit 0
fi

read -r torch_base cuda <<<"$("${py}" -c "import torch; print(torch.__version__.split('+')[0], torch.version.cuda or 'cpu')")"
if [ "${cuda}" = cpu ]; then
  links=${K2_FIND_LINKS:-https://k2-fsa.github.io/k2/cpu.html}
  version_glob="*+cpu.torch${torch_base}"
else
  links=${K2_FIND_LINKS:-https://k2-fsa.github.io/k2/cuda.html}
  version_glob="*+cuda${cuda}.torch${torch_base}"
fi
log "looking for a k2 wheel matching torch ${torch_base}, CUDA ${cuda} at ${links}"
# pip cannot match a local version glob directly: list what the index offers, pick a matching one.
available=$("${py}" -m pip download --no-deps -d /dev/null --find-links "${links}" "k2==0" 2>&1 \
            | sed -n 's/.*from versions: \(.*\))/\1/p' | tr ',' '\n' | tr -d ' ' || true)
match=""
for v in ${available}; do
  # shellcheck disable=SC2053
  [[ "${v}" == ${version_glob} ]] && match=${v}
done
if [ -z "${match}" ]; then
  log "no k2 wheel for torch ${torch_base} / CUDA ${cuda} / $("${py}" -V) is reachable;"
  log "k2 stays optional: prefixasr will use fast_rnnt for the pruned RNN-T loss."
  exit 0
fi
"${py}" -m pip install --no-deps --find-links "${links}" "k2==${match}"
"${py}" -c "import k2; print('k2', k2.__version__)"
