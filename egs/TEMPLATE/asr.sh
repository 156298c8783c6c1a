#!/usr/bin/env bash
# The shared stage script of every prefixasr recipe (ESPnet style): egs/<recipe>/run.sh only sets
# the recipe's options and calls ./asr.sh, a symlink to this file, so a fix here reaches every recipe.
# Each stage skips work already done (a .done sentinel written after success), so rerunning is
# cheap and `--stage N` resumes; each long stage writes <its dir>/run.sh that replays it.
set -euo pipefail

# ---- general
stage=0                 # first stage to run
stop_stage=10000        # last stage to run
python=python3          # interpreter for the prefixasr tools
ngpu=0                  # GPUs for training: 0 = CPU; >1 launches torchrun (DDP)
nj=4                    # parallel jobs for features and decoding (run.pl/slurm.pl via cmd.sh)
data_dir=data           # where data, manifests and features go
exp_dir=exp             # where experiments go
# ---- data (stages 0-3)
data=synthetic          # source for local/data.sh: synthetic|fleurs|commonvoice|kaldi|captions (paths in db.sh)
langs="hi bn"           # languages (ISO 639-1), space separated
local_data_opts=""      # extra options passed to local/data.sh
train_set=train         # training set name
valid_set=dev           # validation set name
test_sets="test"        # test set names, space separated
min_seg_duration=1.0    # drop training segments shorter than this (seconds)
max_seg_duration=20.0   # drop training segments longer than this (seconds)
speed_perturb=false     # add 0.9x/1.1x speed-perturbed copies of the training set
# ---- tokenizer and LM (stages 4-5)
nbpe=500                # sentencepiece vocabulary size (id 0 = blank)
pretrained_lm=""        # path or name of a pretrained causal LM; empty = pre-train conf/lm.yaml (stage 5)
lm_config=conf/lm.yaml  # LM pre-training config
# ---- prefix-LM training and averaging (stages 6-7)
asr_config=conf/train.yaml  # system config (model, losses, optimiser)
asr_tag=""              # experiment name; empty = derived from the config's file name
asr_args=""             # extra options for prefixasr.bin.train
avg=2                   # number of last epochs to average
# ---- decoding and scoring (stages 8-9)
decode_methods="llm_greedy"  # space separated: llm_greedy llm_beam rnnt_greedy rnnt_beam
decode_args=""          # extra options for prefixasr.bin.decode
long_form=true          # also decode whole long recordings (windowing + stitching)
results=RESULTS.md      # results table written by stage 9
help_message="Usage: $0 [options]   (run from a recipe directory: egs/<recipe>/)
Stages: 0 data  1 manifests+validation  2 segmentation  3 features  4 tokenizer  5 LM pre-training
        6 prefix-LM training  7 averaging  8 decoding  9 scoring + ${results}"

_run_args=$(printf '%q ' "$0" "$@")  # for the replay scripts
. utils/log.sh
. utils/parse_options.sh
[ $# -eq 0 ] || die "unexpected arguments: $* (options are --name value)"
. ./path.sh
. ./cmd.sh

[ -n "${asr_tag}" ] || asr_tag=$(basename "${asr_config}" .yaml)
asr_exp=${exp_dir}/${asr_tag}
lang_dir=${data_dir}/lang
lm_exp=${exp_dir}/lm
[ -n "${pretrained_lm}" ] && lm_exp=${pretrained_lm}

# done <sentinel>: true when that piece of work finished before (then say so).
is_done() {
  [ -f "$1" ] || return 1
  log "${1%/*} is done already ($(basename "$1")); skipping"
}
mark_done() { mkdir -p "$(dirname "$1")"; date > "$1"; }
# write_replay <dir> <stage>: <dir>/run.sh reruns just that stage with this run's options.
write_replay() {
  mkdir -p "$1"
  printf '#!/usr/bin/env bash\n# Replays stage %s exactly as it was run.\ncd %q && %s--stage %s --stop_stage %s "$@"\n' \
    "$2" "${PWD}" "${_run_args}" "$2" "$2" > "$1/run.sh"
  chmod +x "$1/run.sh"
}

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
  if ! is_done "${data_dir}/.data.done"; then
    log "Stage 0: prepare ${data} data for languages: ${langs}"
    # shellcheck disable=SC2086  # *_opts are word lists on purpose
    local/data.sh --data "${data}" --langs "${langs}" --data_dir "${data_dir}" ${local_data_opts}
    mark_done "${data_dir}/.data.done"
  fi
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
  log "Stage 1: manifests and validation"
  for dset in ${train_set} ${valid_set} ${test_sets}; do
    is_done "${data_dir}/manifests/.${dset}.done" && continue
    # local/data.sh writes either a Kaldi data dir data/<set> or lhotse manifests directly.
    if [ -f "${data_dir}/${dset}/utt2spk" ]; then
      utils/validate_data_dir.sh --need-lang true "${data_dir}/${dset}"
    fi
    ${python} -m prefixasr.bin.prepare_manifests --data-dir "${data_dir}" --set "${dset}"
    mark_done "${data_dir}/manifests/.${dset}.done"
  done
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
  log "Stage 2: segmentation (supervision cuts; whole recordings kept for long-form test)"
  for dset in ${train_set} ${valid_set} ${test_sets}; do
    is_done "${data_dir}/cuts/.${dset}.done" && continue
    ${python} -m prefixasr.bin.make_cuts --data-dir "${data_dir}" --set "${dset}" \
      --min-duration "${min_seg_duration}" --max-duration "${max_seg_duration}" \
      --speed-perturb "$([ "${dset}" = "${train_set}" ] && echo "${speed_perturb}" || echo false)"
    mark_done "${data_dir}/cuts/.${dset}.done"
  done
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
  log "Stage 3: 80-dim fbank features"
  for dset in ${train_set} ${valid_set} ${test_sets}; do
    is_done "${data_dir}/fbank/.${dset}.done" && continue
    write_replay "${data_dir}/fbank/log/${dset}" 3
    ${train_cmd} JOB=1:"${nj}" "${data_dir}/fbank/log/${dset}/fbank.JOB.log" \
      ${python} -m prefixasr.bin.compute_fbank --data-dir "${data_dir}" --set "${dset}" \
      --part JOB --num-parts "${nj}"
    ${python} -m prefixasr.bin.compute_fbank --data-dir "${data_dir}" --set "${dset}" --combine "${nj}"
    mark_done "${data_dir}/fbank/.${dset}.done"
  done
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
  if ! is_done "${lang_dir}/.tokenizer.done"; then
    log "Stage 4: sentencepiece tokenizer (${nbpe} pieces) -> ${lang_dir}"
    ${python} -m prefixasr.bin.train_tokenizer --data-dir "${data_dir}" --train-set "${train_set}" \
      --vocab-size "${nbpe}" --output-dir "${lang_dir}"
    mark_done "${lang_dir}/.tokenizer.done"
  fi
fi

if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
  if [ -n "${pretrained_lm}" ]; then
    log "Stage 5: using the pretrained LM ${pretrained_lm}; nothing to pre-train"
  elif ! is_done "${lm_exp}/.done"; then
    log "Stage 5: pre-train the LM (${lm_config}) -> ${lm_exp} (log: ${lm_exp}/train.log)"
    write_replay "${lm_exp}" 5
    ${train_cmd} "${lm_exp}/train.log" ${python} -m prefixasr.bin.train_lm --config "${lm_config}" \
      --text "${lang_dir}/lm_text.txt" --tokenizer "${lang_dir}/spm.model" --exp-dir "${lm_exp}"
    mark_done "${lm_exp}/.done"
  fi
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
  if ! is_done "${asr_exp}/.train.done"; then
    log "Stage 6: train ${asr_config} -> ${asr_exp} (log: ${asr_exp}/train.log)"
    write_replay "${asr_exp}" 6
    if [ "${ngpu}" -gt 1 ]; then
      launcher="torchrun --standalone --nproc_per_node ${ngpu} -m"
    else
      launcher="${python} -m"
    fi
    # shellcheck disable=SC2086
    ${cuda_cmd} --gpu "${ngpu}" "${asr_exp}/train.log" ${launcher} prefixasr.bin.train \
      --config "${asr_config}" --data-dir "${data_dir}" --train-set "${train_set}" \
      --valid-set "${valid_set}" --lm "${lm_exp}" --exp-dir "${asr_exp}" ${asr_args}
    mark_done "${asr_exp}/.train.done"
  fi
fi

if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
  if ! is_done "${asr_exp}/.avg${avg}.done"; then
    log "Stage 7: average the last ${avg} epochs of ${asr_exp}"
    ${python} -m prefixasr.bin.average_checkpoints --exp-dir "${asr_exp}" --avg "${avg}"
    mark_done "${asr_exp}/.avg${avg}.done"
  fi
fi

if [ "${stage}" -le 8 ] && [ "${stop_stage}" -ge 8 ]; then
  log "Stage 8: decode ${test_sets} with ${decode_methods}"
  for dset in ${test_sets}; do
    for method in ${decode_methods}; do
      for form in segments $([ "${long_form}" = true ] && echo long); do
        dir=${asr_exp}/decode_${dset}_${method}$([ "${form}" = long ] && echo _long)
        is_done "${dir}/.done" && continue
        write_replay "${dir}" 8
        # shellcheck disable=SC2086
        ${decode_cmd} JOB=1:"${nj}" "${dir}/log/decode.JOB.log" ${python} -m prefixasr.bin.decode \
          --exp-dir "${asr_exp}" --avg "${avg}" --data-dir "${data_dir}" --set "${dset}" \
          --method "${method}" --form "${form}" --part JOB --num-parts "${nj}" --output-dir "${dir}" \
          ${decode_args}
        ${python} -m prefixasr.bin.decode --combine "${nj}" --output-dir "${dir}"
        mark_done "${dir}/.done"
      done
    done
  done
fi

if [ "${stage}" -le 9 ] && [ "${stop_stage}" -ge 9 ]; then
  log "Stage 9: score every decode dir of ${asr_exp} and write ${results}"
  for dir in "${asr_exp}"/decode_*/; do
    [ -f "${dir}/text" ] || continue
    [ "${dir}/scores.json" -nt "${dir}/text" ] && continue
    ${python} -m prefixasr.bin.score "${dir}"
  done
  ${python} -m prefixasr.bin.show_results --exp-root "${exp_dir}" --output "${results}"
  log "Results: ${PWD}/${results}"
fi
