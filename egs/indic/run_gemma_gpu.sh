#!/usr/bin/env bash
# The Gemma 3 270M system on all ten languages on one lent GPU (bf16 autocast), from a bare machine: install,
# data, encoder pre-training, Gemma's stage 7, decoding and scoring, its table in ${exp_dir}/RESULTS_gemma_gpu.md
# (and in $OUT, the device tool's folder that comes back). RESULTS_gemma.md's `gemma` system (conf/train.yaml +
# conf/llm/gemma3_270m.yaml adapted to the LM text first, the clean training set, the configs' own epochs) on ten
# languages, with two differences: the recipe's Conformer encoder, not the fine-tuned Whisper base, whose weights
# would be two more pieces and whose stage 6 is ~7x the Conformer's (docs/convergence.md part 28); and no SpecAugment
# in stage 7, which was tuned on the fine-tuned Whisper's CTC (part 31; `-- --asr_args ...` sets it).
#
# Usage: the GPU machine reaches no network and a call carries 64 MiB, so what it lacks travels in pieces.
#   1. here, once:   make -C tools gpu-bundle         (gpu_bundle/call-1 ... call-5: tools/installers/make_gpu_bundle.sh)
#   2. one device call a piece, back to back (a machine waits 30 s between calls), each the same command:
#        run(command="egs/indic/run_gemma_gpu.sh", carry=["gpu_bundle/call-K"], timeout_s=600)   K = 1 ... 5
#      call-1 installs the wheels and espeak-ng and starts, in the background, fast_rnnt's CUDA build and the data
#      stages (0-4), which run on while the next calls carry the rest of Gemma's GGUF; the call that brings the
#      last piece joins and checks the GGUF, converts it and runs stages 5-10.
#   3. a call stopped at its 10-minute limit: the same command with no carry resumes (asr.sh's sentinels and
#      checkpoints; what the machine wrote stays while it is warm).
# Run here (no pieces, everything installed), it is the same recipe on the CPU. Options after "--" go to run.sh
# (e.g. `-- --stop_stage 6`).
set -euo pipefail

langs="bn gu hi kn ml mr or pa ta te"  # the ten languages of the recipe
data_dir=data10                   # data (stages 0-4)
exp_dir=exp10                     # the pre-trained encoder, the n-gram and the Gemma system (exp10/gemma)
llm_config=../../conf/llm/gemma3_270m.yaml  # the pretrained LLM's block (its model.llm.path: what call-5 converts)
llm_adapt_config=../../conf/lm/gemma3_270m_adapt.yaml  # stage 5 adapts it to the LM text (seconds here); "" = as released
pretrain_args="train.amp=none"    # stage 6: fp32; bf16 was slower and later off the plateau for the 3M encoder
                                  # (docs/convergence.md part 17); stage 7 autocasts Gemma to bf16 (train.amp's default)
decode_methods="llm_beam rnnt_greedy"  # stage 9: the recipe's LLM beam, and its RNN-T
long_form=false                   # whole recordings too (a minute or two more of the device's 15)
bundle=../../gpu_bundle           # where the device tool puts the carried pieces (call-1 ... call-N)
nj=$(nproc)                       # jobs for data, features and decoding
python=python3                    # the interpreter (the GPU image's own, which holds torch)

cd "$(dirname "$0")"
. utils/log.sh
. utils/parse_options.sh  # stops at "--"; the rest goes to run.sh
[ "${1:-}" = "--" ] && shift
received=${bundle}/received
mkdir -p "${received}"
[ -f "${received}/env.sh" ] && . "${received}/env.sh"  # espeak-ng from the bundle (written by the first call)
. ./path.sh
SECONDS=0
data_opts=(--langs "${langs}" --data_dir "${data_dir}" --exp_dir "${exp_dir}" --python "${python}" --nj "${nj}"
           --train_augment "" --noisy_sets "" --test_sets "test test_unseen")

# ---- take this call's piece(s)
for piece in "${bundle}"/call-*/; do
  [ -d "${piece}" ] || continue
  find "${piece}" -maxdepth 1 -type f -exec mv -f {} "${received}/" \;
done

# ---- first piece: install what the image lacks, and start what takes minutes and needs no GPU in the background
if [ -f "${received}/tools.tar.xz" ] && [ ! -f "${received}/.installed" ]; then
  tar -C "${received}" -xJf "${received}/tools.tar.xz"
  if ! ${python} -c "import lhotse, kaldialign, lilcom, gguf, soundfile" 2>/dev/null; then
    log "installing $(ls "${received}"/tools/wheels | wc -l) wheels"
    ${python} -m pip install -q --no-index --no-deps --no-compile "${received}"/tools/wheels/*.whl
  fi
  if ! command -v espeak-ng >/dev/null; then
    espeak=$(realpath "${received}/tools/espeak-ng")
    { printf 'export PATH=%q/bin:${PATH}\n' "${espeak}"
      printf 'export LD_LIBRARY_PATH=%q/lib${LD_LIBRARY_PATH:+:${LD_LIBRARY_PATH}}\n' "${espeak}"
      printf 'export ESPEAK_DATA_PATH=%q\n' "${espeak}"; } > "${received}/env.sh"
    . "${received}/env.sh"
  fi
  espeak-ng --version
  touch "${received}/.installed"
  venv=$(${python} -c 'import sys; print(sys.prefix)')
  build_env=(FAST_RNNT_SDIST="$(realpath "${received}"/tools/fast_rnnt-*.tar.gz)" FAST_RNNT_JOBS="${nj}")
  if ! command -v make >/dev/null; then  # the image has CMake and ninja; fast_rnnt's setup.py runs `make`
    mkdir -p "${received}/bin"
    printf '#!/bin/sh\nexec ninja "$@"\n' > "${received}/bin/make"
    chmod +x "${received}/bin/make"
    build_env+=(PATH="$(realpath "${received}/bin"):${PATH}" FAST_RNNT_CMAKE_ARGS="-G Ninja")
  fi
  log "background: fast_rnnt's CUDA build and data stages 0-4 (logs: ${received}/build.log, ${received}/data.log)"
  # a new session: the device tool ends a call's processes when it returns, but not those (README of the tool)
  setsid nohup bash -c "
    ( env $(printf '%q ' "${build_env[@]}") ../../tools/installers/install_fast_rnnt.sh ${venv} \
        > ${received}/build.log 2>&1 && touch ${received}/.build.done || touch ${received}/.build.failed ) &
    ( ./run.sh $(printf '%q ' "${data_opts[@]}") --stop_stage 4 > ${received}/data.log 2>&1 \
        && touch ${received}/.data.done || touch ${received}/.data.failed ) &
    wait" > /dev/null 2>&1 < /dev/null &
fi

# ---- until every piece is here, say what is missing
if [ -f "${received}/MANIFEST" ]; then
  pieces=$(sed -n 's/^pieces=//p' "${received}/MANIFEST")
  have=$(find "${received}" -maxdepth 1 -name 'gguf.part-*' | wc -l)
  if [ "${have}" -lt "${pieces}" ]; then
    log "have ${have} of ${pieces} pieces: carry gpu_bundle/call-$(( have + 1 )) next"
    exit 0
  fi
elif ! ${python} -c "import fast_rnnt, lhotse" 2>/dev/null; then
  die "nothing installed yet: the first call carries gpu_bundle/call-1 (tools/installers/make_gpu_bundle.sh)"
fi

# ---- the background work: wait for it (the first calls' time covers most of it)
if [ -f "${received}/MANIFEST" ]; then
  for job in build data; do
    until [ -f "${received}/.${job}.done" ]; do
      [ -f "${received}/.${job}.failed" ] && { tail -n 30 "${received}/${job}.log" >&2; die "the ${job} job failed"; }
      sleep 5
    done
  done
fi
log "installed and data ready at ${SECONDS} s"

# ---- Gemma: join the pieces, check them, convert once (the tokenizer came converted)
gemma=../../tools/models/gemma3-270m
if [ ! -f "${gemma}/source.json" ]; then
  gguf=../../tools/models/gemma-3-270m-q4_k_m.gguf
  mkdir -p "${gguf%/*}"
  cat "${received}"/gguf.part-* > "${gguf}"
  want=$(sed -n 's/^sha256=//p' ../../tools/installers/install_gemma3_270m.sh)
  got=$(sha256sum "${gguf}" | cut -d' ' -f1)
  [ "${got}" = "${want}" ] || die "${gguf} has sha256 ${got}, expected ${want} (a piece is missing or damaged)"
  ${python} -m prefixasr.bin.convert_llm --gguf "${gguf}" --output-dir "${gemma}" \
    --tokenizer-dir "${received}/gemma" --notice "${received}/gemma/NOTICE.md"
  log "Gemma converted at ${SECONDS} s"
fi

# ---- the recipe: stages 5 (the n-gram and Gemma's adaptation; no LM pre-training) to 10
./run.sh "${data_opts[@]}" --asr_tag gemma --llm_config "${llm_config}" --llm_adapt_config "${llm_adapt_config}" \
  --pretrain_args "${pretrain_args}" \
  --asr_args "" --avg 2 --decode_methods "${decode_methods}" --long_form "${long_form}" \
  --results "${exp_dir}/RESULTS_stage10.md" --stop_stage 10 "$@"
results=${exp_dir}/RESULTS_gemma_gpu.md
${python} -m prefixasr.bin.show_results --exp-root "${exp_dir}" --output "${results}" --preamble \
  "Made by \`cd egs/indic && ./run_gemma_gpu.sh\` on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null |
   head -n 1 || echo 'no GPU'), $(nproc) CPU cores: ${SECONDS} s in this call (an earlier call's share not counted)."
log "done in ${SECONDS} s: ${results}"
if [ -n "${OUT:-}" ]; then  # what comes back from the device tool
  cp "${results}" "${exp_dir}"/RESULTS_gemma_gpu_*.png "${OUT}/" 2>/dev/null || true
  tail -n 40 "${exp_dir}/gemma/log/train.log" > "${OUT}/gemma_train_tail.log"
  tail -n 40 "${exp_dir}/pretrain/log/train.log" > "${OUT}/pretrain_train_tail.log"
fi
