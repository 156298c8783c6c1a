#!/usr/bin/env bash
# Build fast_rnnt (k2's stand-alone pruned RNN-T loss) from its PyPI sdist, offline, against the
# venv's torch. CPU kernels by default; CUDA kernels when torch sees a GPU and nvcc exists.
#
# Usage: tools/installers/install_fast_rnnt.sh [VENV_DIR]      (default: tools/venv)
#   FAST_RNNT_VERSION=1.3   sdist version to build
#   FAST_RNNT_SDIST=        that sdist as a local file (fast_rnnt-1.3.tar.gz) where no package index is reachable
#   FAST_RNNT_CUDA=auto     auto | on | off
#   FAST_RNNT_JOBS=2        parallel compile jobs
#   FAST_RNNT_CUDA_ARCHS=   compute capabilities to build kernels for, e.g. "80 90"; empty = the visible GPUs'
#   FAST_RNNT_CMAKE_ARGS=   more CMake arguments, e.g. "-G Ninja" where there is no make (then put a `make`
#                           on PATH that runs ninja: fast_rnnt's setup.py calls make)
#
# Why not `pip install fast_rnnt`: its CMake fetches pybind11 from GitHub (no internet here) and its
# defaults predate torch 2.14 (C++20 headers, CUDA toolkit lookup even for CPU builds).
set -euo pipefail

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) $*" >&2; }

venv=$(realpath "${1:-$(dirname "$0")/../venv}")
version=${FAST_RNNT_VERSION:-1.3}
want_cuda=${FAST_RNNT_CUDA:-auto}
jobs=${FAST_RNNT_JOBS:-2}
py="${venv}/bin/python"
[ -x "${py}" ] || { log "ERROR: no python at ${py}; run 'make -C tools' first"; exit 1; }

# The toolkit root is the first candidate with headers (nvcc on PATH may be a wrapper script).
find_cuda_root() {
  local c
  for c in "${CUDA_HOME:-}" "${CUDA_PATH:-}" \
           "$(dirname "$(dirname "$(realpath "$(command -v nvcc 2>/dev/null || echo /nonexistent/bin/nvcc)")")")" \
           /usr/local/cuda /usr/local/cuda-*; do
    [ -n "${c}" ] && [ -f "${c}/include/cuda_runtime.h" ] && { echo "${c}"; return; }
  done
}

if "${py}" -c "import fast_rnnt" 2>/dev/null; then
  log "fast_rnnt already importable in ${venv}; nothing to do"
  exit 0
fi

"${py}" -m pip install -q cmake pybind11
workdir=$(mktemp -d)
trap 'rm -rf "${workdir}"' EXIT
if [ -n "${FAST_RNNT_SDIST:-}" ]; then
  cp "${FAST_RNNT_SDIST}" "${workdir}/fast_rnnt-${version}.tar.gz"
else
  "${py}" -m pip download -q --no-deps --no-binary :all: -d "${workdir}" "fast_rnnt==${version}"
fi
tar -xzf "${workdir}"/fast_rnnt-"${version}".tar.gz -C "${workdir}"
src="${workdir}/fast_rnnt-${version}"

# Stand-in for the GitHub download: a directory whose CMakeLists just finds pip's pybind11.
mkdir -p "${workdir}/pybind11_shim"
pybind11_dir=$("${py}" -c "import pybind11; print(pybind11.get_cmake_dir())")
cat > "${workdir}/pybind11_shim/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.5)
project(pybind11_shim)
find_package(pybind11 CONFIG REQUIRED PATHS "${pybind11_dir}" NO_DEFAULT_PATH)
CMAKE

torch_info=$("${py}" -c "import torch; print(torch.version.cuda or '', int(torch.cuda.is_available()), torch.__version__)")
read -r torch_cuda has_gpu torch_version <<<"${torch_info}"
cxx_std=20
case "${torch_version}" in 1.*|2.[0-9].*|2.1[0-3].*) cxx_std=17 ;; esac

use_cuda=OFF
if [ "${want_cuda}" = on ] || { [ "${want_cuda}" = auto ] && [ "${has_gpu}" = 1 ] && command -v nvcc >/dev/null; }; then
  use_cuda=ON
  # fast_rnnt 1.3 builds for a fixed list (sm_35 ... sm_86) when it does not recognise the GPU, as for Hopper
  # (sm_90), and CUDA 13's nvcc rejects everything below sm_75: build for the GPUs that are here instead.
  visible_archs="import torch; n = torch.cuda.device_count()
print(' '.join(sorted({'%d%d' % torch.cuda.get_device_capability(i) for i in range(n)})))"
  archs=${FAST_RNNT_CUDA_ARCHS:-$("${py}" -c "${visible_archs}")}
  [ -n "${archs}" ] || { log "ERROR: no GPU visible to name its architecture; set FAST_RNNT_CUDA_ARCHS"; exit 1; }
  sed -i -e "s/^\( *set(FT_COMPUTE_ARCH_CANDIDATES\) [0-9 ]*)/\1 ${archs})/" \
         -e "/list(APPEND FT_COMPUTE_ARCH_CANDIDATES/d" "${src}/CMakeLists.txt"
  log "CUDA kernels for compute capabilities: ${archs}"
fi

cmake_args="-DCMAKE_BUILD_TYPE=Release -DFT_BUILD_TESTS=OFF -DFT_WITH_CUDA=${use_cuda}"
cmake_args+=" -DCMAKE_CXX_STANDARD=${cxx_std} -DCMAKE_POLICY_VERSION_MINIMUM=3.5"
cmake_args+=" -DFETCHCONTENT_SOURCE_DIR_PYBIND11=${workdir}/pybind11_shim -DCMAKE_FIND_PACKAGE_TARGETS_GLOBAL=ON"
cmake_args+=" -DPYTHON_EXECUTABLE=${py}"
cmake_args+=" ${FAST_RNNT_CMAKE_ARGS:-}"
if [ -n "${torch_cuda}" ]; then
  # A CUDA build of torch makes CMake look for the toolkit even for CPU kernels.
  cuda_root=$(find_cuda_root)
  if [ -n "${cuda_root}" ]; then
    cmake_args+=" -DCUDA_TOOLKIT_ROOT_DIR=${cuda_root}"
  else
    log "ERROR: torch ${torch_version} is a CUDA build but no CUDA toolkit was found (set CUDA_HOME); install it"
    log "       or use a CPU build of torch (make -C tools TORCH_VERSION=<cpu build>)."
    exit 1
  fi
  nvrtc=$(ls "${venv}"/lib/python3*/site-packages/nvidia/cu*/lib/libnvrtc.so.* \
              "${venv}"/lib/python3*/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.* 2>/dev/null | head -n 1 || true)
  [ -n "${nvrtc}" ] && cmake_args+=" -DCUDA_nvrtc_LIBRARY=${nvrtc}"
fi

build_log="$(dirname "${venv}")/fast_rnnt_build.log"
log "building fast_rnnt ${version} (CUDA kernels: ${use_cuda}, C++${cxx_std}, torch ${torch_version})"
start=$(date +%s)
(cd "${src}" && FT_CMAKE_ARGS="${cmake_args}" FT_MAKE_ARGS="-j${jobs}" PATH="${venv}/bin:${PATH}" \
   "${py}" -m pip install -v --no-build-isolation --no-deps . ) > "${build_log}" 2>&1 || {
  grep -n -A8 -E "CMake Error|error:" "${build_log}" | head -n 60 >&2
  log "ERROR: fast_rnnt build failed; full log: ${build_log}"; exit 1; }
"${py}" -c "import fast_rnnt, torch; print('fast_rnnt OK, torch', torch.__version__)"
log "fast_rnnt built in $(( $(date +%s) - start )) s"
