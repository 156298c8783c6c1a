#!/usr/bin/env bash
# Pack what a lent GPU machine needs for egs/indic/run_gemma_gpu.sh into pieces of the device tool's size.
#
# Usage: tools/installers/make_gpu_bundle.sh [OUT_DIR]        (default: gpu_bundle/ at the repository root)
#   GPU_PYTHON_VERSION=3.12   the GPU machine's Python (its torch, transformers, peft, ... are used as they are)
#   GPU_PIECE_MIB=58          the most one piece holds: a call carries 64 MiB, the working tree (~4 MiB) included
#
# The GPU machine reaches no network and starts bare, so everything it lacks travels from here (made with
# `make -C tools` and `make -C tools gemma3-270m` first):
#   tools.tar.xz    wheels for the device's Python of the packages its image lacks (lhotse and its needs,
#                   kaldialign, lilcom, gguf, soundfile; transformers at our pinned version), fast_rnnt's sdist
#                   (built there with CUDA kernels), espeak-ng with the shared libraries it loads and its
#                   voice data, and Gemma's converted tokenizer (convert_llm --tokenizer-dir: not a minute there)
#   gguf.part-*     Gemma 3 270M's GGUF (253 MB) in pieces; the machine joins them and checks the sha256
# OUT_DIR/call-1 ... call-N each hold one piece (call-1: the tools and the GGUF's first bytes); the device
# tool carries one a call. Nothing here is committed (gpu_bundle/ is git-ignored): the GGUF is Google's, under
# the Gemma Terms of Use, and travels with its NOTICE.md.
set -euo pipefail
case "${1:-}" in  # the header above is the help
  -h|--help) sed -n '2,/^set -euo/{/^set/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
  -*) echo "unknown option $1 (--help)" >&2; exit 2 ;;
esac

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:-${root}/gpu_bundle}")
py_version=${GPU_PYTHON_VERSION:-3.12}
piece_bytes=$(( ${GPU_PIECE_MIB:-58} * 1024 * 1024 ))
py=${root}/tools/venv/bin/python
gguf=${root}/tools/models/gemma-3-270m-q4_k_m.gguf
gemma=${root}/tools/models/gemma3-270m
[ -x "${py}" ] || die "no ${py}: run 'make -C tools' first"
[ -f "${gguf}" ] && [ -f "${gemma}/source.json" ] || die "no Gemma 3 270M in tools/models: run 'make -C tools gemma3-270m'"
command -v espeak-ng >/dev/null || die "no espeak-ng here to pack (make -C tools installs it)"

work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT
mkdir -p "${work}/tools/wheels" "${work}/tools/espeak-ng/bin" "${work}/tools/espeak-ng/lib" "${work}/gemma"

# The packages the device image lacks (its list: /work/.library/device/KINDS.md), each at the version installed
# here, so the machine runs what the tests ran; --no-deps: their other needs are in the image.
pin() { echo "$1==$("${py}" -c 'import sys, importlib.metadata as m; print(m.version(sys.argv[1]))' "$1")"; }
pins=()
for name in lhotse kaldialign lilcom gguf soundfile cffi pycparser audioread cytoolz transformers; do
  pins+=("$(pin "${name}")")
done
log "wheels for Python ${py_version}: ${pins[*]}"
"${py}" -m pip download -q --no-deps --only-binary=:all: --python-version "${py_version}" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 -d "${work}/tools/wheels" "${pins[@]}"
# intervaltree (lhotse's) is published as an sdist only: a pure-Python wheel of it
"${py}" -m pip wheel -q --no-deps -w "${work}/tools/wheels" "$(pin intervaltree)"
"${py}" -m pip download -q --no-deps --no-binary :all: -d "${work}/tools" "fast_rnnt==${FAST_RNNT_VERSION:-1.3}"

# espeak-ng and every shared library it loads but the C library's own (the device has glibc, nothing of audio)
cp "$(command -v espeak-ng)" "${work}/tools/espeak-ng/bin/"
ldd "$(command -v espeak-ng)" | awk '/=> \// {print $3}' | grep -Ev '/(libc|libm|libdl|libpthread|librt)\.so' |
  while read -r lib; do cp -L "${lib}" "${work}/tools/espeak-ng/lib/"; done
data=$(espeak-ng --version | sed -n 's/.*Data at: //p')
[ -d "${data}" ] || die "espeak-ng's voice data not found (espeak-ng --version says '${data}')"
cp -r "${data}" "${work}/tools/espeak-ng/espeak-ng-data"

for f in config.json generation_config.json tokenizer.json tokenizer_config.json NOTICE.md; do
  cp "${gemma}/${f}" "${work}/gemma/"
done
log "compressing the tools and Gemma's tokenizer"
tar -C "${work}" -cJf "${work}/tools.tar.xz" tools gemma

# call-1: the tools and the GGUF's first bytes; then the rest of the GGUF, one piece a call
rm -rf "${out}"
mkdir -p "${out}/call-1"
mv "${work}/tools.tar.xz" "${out}/call-1/"
first=$(( piece_bytes - $(stat -c %s "${out}/call-1/tools.tar.xz") ))
[ "${first}" -gt 0 ] || die "the tools alone are larger than a piece (${piece_bytes} bytes); raise GPU_PIECE_MIB"
head -c "${first}" "${gguf}" > "${out}/call-1/gguf.part-01"
tail -c +$(( first + 1 )) "${gguf}" | split -b "${piece_bytes}" -d -a 2 --numeric-suffixes=2 - "${work}/gguf.part-"
n=1
for part in "${work}"/gguf.part-*; do
  n=$(( n + 1 ))
  mkdir -p "${out}/call-${n}"
  mv "${part}" "${out}/call-${n}/"
done
printf 'pieces=%d\ngguf_bytes=%d\n' "${n}" "$(stat -c %s "${gguf}")" > "${out}/call-1/MANIFEST"
du -sh "${out}"/call-* >&2
log "${out}: ${n} pieces; carry gpu_bundle/call-1 ... call-${n}, one a call (egs/indic/run_gemma_gpu.sh says how)"
