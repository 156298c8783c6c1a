#!/usr/bin/env bash
# The shared stage script of every prefixasr recipe (ESPnet style): egs/<recipe>/run.sh only sets
# the recipe's options and calls ./asr.sh, a symlink to this file, so a fix here reaches every recipe.
# Each stage skips work already done (a .done sentinel written after success), so rerunning is
# cheap and `--stage N` resumes; a sentinel holds the signature of the options and inputs its work was
# made from, so a changed option or a redone earlier stage redoes the work (and everything after it).
# Each long stage writes <its dir>/run.sh that replays it.
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
noisy_sets=""           # test sets copied into <set>_noisy (stage 1): babble of other speakers of the set and a sox
                        # reverberation; list <set>_noisy in --test_sets to decode and score it
noisy_snr=10            # the copies' speech-to-babble ratio (dB)
min_seg_duration=1.0    # drop training/validation segments shorter than this (seconds); test sets keep all
max_seg_duration=20.0   # drop training/validation segments longer than this (seconds)
train_augment=""        # augmented copies of the training set, made in stage 3 before its features (lhotse's
                        # transforms, prefixasr/data/augment.py): speed (0.9x and 1.1x), noise (another utterance or
                        # synthetic noise at 10-20 dB SNR), reverb (a random room); e.g. "speed noise reverb"
# ---- tokenizer and LM (stages 4-5)
nbpe=500                # sentencepiece vocabulary size (id 0 = blank)
bpe_type=unigram        # sentencepiece model type: unigram | bpe | char (then --nbpe is only an upper bound)
pretrained_lm=""        # path or name of a pretrained causal LM; empty = pre-train conf/lm.yaml (stage 5)
llm_config=""           # a pretrained LLM's block (e.g. ../../conf/llm/gemma3_270m.yaml) layered over the stage-7
                        # system config; its model.llm.path is relative to the repository root; empty = the LM above
llm_adapt_config=""     # with --llm_config: a train_lm config that adapts that LLM to the LM text in stage 5 (e.g.
                        # ../../conf/lm/gemma3_270m_adapt.yaml) and stage 7 starts from the adapted one; empty = as is
lm_config=conf/lm.yaml  # LM pre-training config
lm_args=""              # extra section.key=value overrides for prefixasr.bin.train_lm (pre-training or adapting)
use_ngram=false         # also count a token n-gram LM over the LM text (stage 5) and fuse it into the LLM's search
ngram_num=6             # its order (ESPnet's ngram_num)
ngram_weight=0.3        # its weight at decoding (the system's decode.ngram_weight, set by stage 8; decode
                        # --ngram-weight overrides)
# ---- the encoder (stages 3, 6-7) and its pre-training (stage 6)
encoder_config=""       # an encoder block (e.g. ../../conf/encoder/whisper_base.yaml) layered over the stage-6 and
                        # stage-7 configs; stage 3 makes what it reads (fbank, Whisper's log-mel, or a frozen
                        # encoder's cached outputs) in ${data_dir}/<its kind>; its model.encoder.path is relative to
                        # the repository root; empty = the configs' own Conformer on Kaldi fbank
pretrain_config=conf/pretrain.yaml  # encoder-only system (character CTC, pruned RNN-T, LID); empty = no pre-training
pretrain_tag=""         # its experiment name; empty = pretrain (pretrain_<block name> with --encoder_config)
pretrain_args=""        # extra options for prefixasr.bin.train (stage 6)
pretrain_avg=1          # epochs averaged into the weights the systems start from (model.init.avg)
# ---- prefix-LM training and averaging (stages 7-8)
asr_config=conf/train.yaml  # system config (model, losses, optimiser); starts from the pre-trained encoder
asr_tag=""              # experiment name; empty = derived from the config's file name
asr_args=""             # extra section.key=value options for prefixasr.bin.train; decode.* ones go to stage 8 instead
avg=2                   # number of last epochs to average (stage 8, which also writes the system's decode settings)
# ---- decoding and scoring (stages 9-10)
decode_methods="llm_greedy"  # space separated: llm_greedy llm_beam rnnt_greedy rnnt_beam
decode_args=""          # extra options for prefixasr.bin.decode
long_form=true          # also decode whole long recordings (windowing + stitching)
long_form_sets=""       # the test sets whose whole recordings are decoded; empty = every test set that has them
long_window="30 5"      # window and overlap (seconds) for whole recordings with the RNN-T/CTC methods ...
long_window_llm=pauses  # ... and with the LLM's: segments cut at the encoder CTC's pauses (sentences, as it was
                        # trained on), or "W O" windows as short as its training utterances
results=RESULTS.md      # results table written by stage 9
baseline=""             # system (exp sub-directory) that RESULTS.md compares against; empty = none
help_message="Usage: egs/<recipe>/run.sh [options]   (or ./asr.sh [options] in the recipe directory)
Stages: 0 data  1 manifests+validation  2 segmentation  3 features  4 tokenizers  5 LM pre-training
        6 encoder pre-training  7 prefix-LM training  8 averaging + decode settings  9 decoding
        10 scoring + ${results}
        11 packing (model.tar.gz)"

cd "$(dirname "$0")"  # the recipe directory (asr.sh is its symlink), wherever we were called from
_run_args=$(printf '%q ' ./asr.sh "$@")  # for the replay scripts
. utils/log.sh
. utils/parse_options.sh
[ $# -eq 0 ] || die "unexpected arguments: $* (options are --name value)"
# shellcheck source=/dev/null  # the recipe's own files
. ./path.sh
# shellcheck source=/dev/null
. ./cmd.sh
: "${train_cmd:?cmd.sh must set train_cmd}" "${decode_cmd:?cmd.sh must set decode_cmd}" \
  "${cuda_cmd:?cmd.sh must set cuda_cmd}"

[ -n "${asr_tag}" ] || asr_tag=$(basename "${asr_config}" .yaml)
asr_exp=${exp_dir}/${asr_tag}
lang_dir=${data_dir}/lang
lm_exp=${exp_dir}/lm
ngram_file=${exp_dir}/ngram/${ngram_num}gram.npz
llm_path=${lm_exp}/hf  # the pre-trained LM in Hugging Face format
[ -n "${pretrained_lm}" ] && llm_path=${pretrained_lm}
if [ -n "${llm_config}" ]; then  # the LLM the block names, found from the repository root
  [ -f "${llm_config}" ] || die "--llm_config ${llm_config}: no such file"
  llm_config=$(realpath "${llm_config}")
  llm_path=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["model"]["llm"]["path"])' \
    "${llm_config}")
  [[ "${llm_path}" = /* ]] || llm_path=${MAIN_ROOT}/${llm_path}
  [ -d "${llm_path}" ] || die "--llm_config: ${llm_path} is not installed (make -C tools gemma3-270m, or the like)"
  pretrained_lm=${llm_path}
fi
llm_adapt_exp=""  # stage 5 adapts ${pretrained_lm} into it; stages 7-11 then use its hf/ as the LLM
if [ -n "${llm_adapt_config}" ]; then
  [ -n "${llm_config}" ] || die "--llm_adapt_config needs --llm_config (the pretrained LLM it adapts)"
  [ -f "${llm_adapt_config}" ] || die "--llm_adapt_config ${llm_adapt_config}: no such file"
  llm_adapt_config=$(realpath "${llm_adapt_config}")
  llm_adapt_exp=${exp_dir}/lm_$(basename "${llm_adapt_config}" .yaml)  # e.g. exp/lm_gemma3_270m_adapt
  llm_path=${llm_adapt_exp}/hf
fi

# What the encoder reads, made by stage 3 into ${feats_dir} (utils/encoder_features.py).
feats_kind=fbank feats_dir=${data_dir}/fbank encoder_path=""
if [ -n "${encoder_config}" ]; then
  [ -f "${encoder_config}" ] || die "--encoder_config ${encoder_config}: no such file"
  encoder_config=$(realpath "${encoder_config}")
  features=$(python3 utils/encoder_features.py "${encoder_config}" "${MAIN_ROOT}") || die "--encoder_config: see above"
  read -r feats_kind feats_name encoder_path <<< "${features}"
  feats_dir=${data_dir}/${feats_name}
  [ "${encoder_path}" = - ] && encoder_path=""
  [ -n "${pretrain_tag}" ] || pretrain_tag=pretrain_$(basename "${encoder_config}" .yaml)
fi
[ -n "${pretrain_tag}" ] || pretrain_tag=pretrain
train_feats=${train_set}_cuts  # the training set's features (stage 3), with its augmented copies when asked for
[ -n "${train_augment}" ] && train_feats=${train_set}_${train_augment// /_}_cuts
pretrain_exp=${exp_dir}/${pretrain_tag}
# layered <out> <config> <block>...: <config> itself when no block is given, else <out>, a config that includes it
# and then the blocks (later includes win), for the encoder block and the pretrained LLM's (written when it differs).
layered() {
  local out=$1 config=$2 blocks=() text
  shift 2
  for b in "$@"; do [ -n "${b}" ] && blocks+=("${b}"); done
  if [ "${#blocks[@]}" -eq 0 ]; then echo "${config}"; return; fi
  mkdir -p "$(dirname "${out}")"
  text=$(printf '# written by asr.sh: %s with %s\n' "${config}" "${blocks[*]}"
         printf 'include: [%s' "$(realpath "${config}")"; printf ', %s' "${blocks[@]}"; printf ']')
  [ -f "${out}" ] && [ "$(cat "${out}")" = "${text}" ] || printf '%s\n' "${text}" > "${out}"
  echo "${out}"
}
# A sentinel's first line is the signature of what its work was made from: the options, the config files'
# contents and the sentinels of the stages it reads (whose second line, the time they were written, makes
# any redone stage invalidate the stages after it).
signature() { printf '%s\n' "$@" | md5sum | cut -c1-16; }
stamp() { if [ -f "$1" ]; then md5sum < "$1" | cut -c1-16; else echo "absent:$1"; fi; }  # a file's content
# config_stamp <config> [train|decode]: a config's content and that of every file its include: lists name,
# recursively, so an edited building block redoes the stages that read it; with a part, each file without its
# decode: block or that block alone, as training never reads it (utils/config_files.py reads YAML only:
# path.sh's python3, which starts in 0.1 s, not ${python}; a bad include is reported by it here and by the
# training tool after)
config_stamp() {
  [ -f "$1" ] || { echo "absent:$1"; return; }
  if [ $# -eq 2 ]; then python3 utils/config_files.py --stamps "$2" "$1"; return; fi
  python3 utils/config_files.py "$1" | while read -r f; do stamp "${f}"; done
}
# is_done <sentinel> <signature>: true when that work finished before from the same inputs (then say so).
is_done() {
  [ -f "$1" ] || return 1
  if [ "$(head -n 1 "$1")" != "$2" ]; then
    log "${1%/*}: options or inputs changed since $(basename "$1") was written; redoing it"
    return 1
  fi
  log "${1%/*} is done already ($(basename "$1")); skipping"
}
mark_done() { mkdir -p "$(dirname "$1")"; printf '%s\n%s\n' "$2" "$(date '+%F %T.%N')" > "$1"; }
# fresh_exp <exp> <signature>: a training dir keeps its checkpoints (an interrupted run resumes) only while
# its inputs are the same; trained from other inputs, it moves to ${exp_dir}/prev/ (replacing an older one),
# out of the way of the results table.
fresh_exp() {
  if [ -f "$1/.inputs" ] && [ "$(cat "$1/.inputs")" != "$2" ]; then
    local old=${exp_dir}/prev/$(basename "$1")
    log "$1 was trained from other options or inputs; moving it to ${old} and training anew"
    rm -rf "${old}"
    mkdir -p "${exp_dir}/prev"
    mv "$1" "${old}"
  fi
  mkdir -p "$1"
  echo "$2" > "$1/.inputs"
}
# write_replay <dir> <stage>: <dir>/run.sh reruns just that stage with this run's options.
# Written to a temp file and renamed: the replay itself may be the script bash is reading now.
write_replay() {
  mkdir -p "$1"
  printf '#!/usr/bin/env bash\n# Replays stage %s exactly as it was run.\ncd %q && %s--stage %s --stop_stage %s "$@"\n' \
    "$2" "${PWD}" "${_run_args}" "$2" "$2" > "$1/.run.sh.tmp"
  chmod +x "$1/.run.sh.tmp"
  mv -f "$1/.run.sh.tmp" "$1/run.sh"
}

# the encoder block's share of a training stage's signature and overrides (none without one: signatures unchanged)
encoder_input=() encoder_opts=()
if [ -n "${encoder_config}" ]; then
  encoder_input=("$(config_stamp "${encoder_config}")")
  [ -n "${encoder_path}" ] && encoder_opts=(model.encoder.path="${encoder_path}")
fi

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
  sig0=$(signature "${data}" "${langs}" "${local_data_opts}")
  if ! is_done "${data_dir}/.data.done" "${sig0}"; then
    log "Stage 0: prepare ${data} data for languages: ${langs}"
    # what stage 1 derives unless this stage writes it: made anew from the new data
    rm -f "${lang_dir}/lang2id.json" "${lang_dir}/lm_text.txt"
    # shellcheck disable=SC2086  # *_opts are word lists on purpose
    local/data.sh --data "${data}" --langs "${langs}" --data_dir "${data_dir}" --python "${python}" --nj "${nj}" \
      ${local_data_opts}
    mark_done "${data_dir}/.data.done" "${sig0}"
  fi
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
  noisy_input=()  # (the signature of a run without noisy sets is the one it had before the option)
  [ -n "${noisy_sets}" ] && noisy_input=("${noisy_sets}" "${noisy_snr}")
  sig1=$(signature "$(stamp "${data_dir}/.data.done")" "${train_set}" "${valid_set}" "${test_sets}" "${noisy_input[@]}")
  if ! is_done "${data_dir}/manifests/.valid.done" "${sig1}"; then
    log "Stage 1: manifests and validation"
    for dset in ${train_set} ${valid_set} ${test_sets}; do
      # local/data.sh writes either a Kaldi data dir data/<set> or lhotse manifests directly.
      if [ -f "${data_dir}/${dset}/utt2spk" ]; then
        utils/validate_data_dir.sh --need-lang true "${data_dir}/${dset}"
        ${python} -m prefixasr.bin.import_kaldi --data-dir "${data_dir}/${dset}" --split "${dset}" \
          --output-dir "${data_dir}/manifests"
      fi
    done
    for dset in ${noisy_sets}; do
      log "Stage 1: ${dset}_noisy: ${dset} with babble at ${noisy_snr} dB SNR, reverberated"
      ${python} -m prefixasr.bin.make_noisy_set --manifest-dir "${data_dir}/manifests" --split "${dset}" \
        --output-split "${dset}_noisy" --audio-dir "${data_dir}/audio/${dset}_noisy" --snr "${noisy_snr}"
    done
    for dset in ${train_set} ${valid_set} ${test_sets}; do
      for kind in recordings supervisions; do
        [ -s "${data_dir}/manifests/${dset}_${kind}.jsonl.gz" ] ||
          die "no ${data_dir}/manifests/${dset}_${kind}.jsonl.gz: stage 0 must write it or a Kaldi dir ${data_dir}/${dset}/"
      done
    done
    if [ ! -s "${lang_dir}/lang2id.json" ] || [ ! -s "${lang_dir}/lm_text.txt" ]; then
      ${python} -m prefixasr.bin.prepare_lang --manifest-dir "${data_dir}/manifests" \
        --train-split "${train_set}" --splits ${train_set} ${valid_set} ${test_sets} --output-dir "${lang_dir}"
    fi
    # Bad items are reported one a line with a reason and counted; the usable rest goes on.
    # shellcheck disable=SC2086
    ${python} -m prefixasr.bin.validate_manifests --manifest-dir "${data_dir}/manifests" \
      --splits ${train_set} ${valid_set} ${test_sets} --lang-map "${lang_dir}/lang2id.json" \
      --output-dir "${data_dir}/manifests_valid"
    mark_done "${data_dir}/manifests/.valid.done" "${sig1}"
  fi
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
  log "Stage 2: segmentation (supervision cuts; whole recordings kept for long-form test)"
  for dset in ${train_set} ${valid_set} ${test_sets}; do
    # only the sets a model trains or validates on are filtered by duration (as ESPnet's asr.sh): a test
    # segment of any length is decoded and scored
    long_opt="" duration_opts=(--min-duration "${min_seg_duration}" --max-duration "${max_seg_duration}")
    for t in ${test_sets}; do
      if [ "${t}" = "${dset}" ]; then
        duration_opts=(--min-duration 0 --max-duration inf)
        long_opt=--long  # whole recordings too, whatever --long_form (a decoding choice) says
      fi
    done
    sig2=$(signature "$(stamp "${data_dir}/manifests/.valid.done")" "${duration_opts[@]}" "${long_opt}")
    is_done "${data_dir}/cuts/.${dset}.done" "${sig2}" && continue
    # shellcheck disable=SC2086
    ${python} -m prefixasr.bin.make_cuts --manifest-dir "${data_dir}/manifests_valid" --split "${dset}" \
      --output-dir "${data_dir}/cuts" "${duration_opts[@]}" ${long_opt}
    mark_done "${data_dir}/cuts/.${dset}.done" "${sig2}"
  done
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
  log "Stage 3: features (${feats_kind}) -> ${feats_dir}"
  encoder_stamp=()  # a frozen encoder's identity (its config and weights' names), for its cached outputs
  [ "${feats_kind}" = fbank ] ||
    encoder_stamp=("${feats_kind}" "${encoder_path}" "$(stamp "${encoder_path}/config.json")")
  for cuts in "${data_dir}"/cuts/*_cuts.jsonl.gz; do
    name=$(basename "${cuts}" .jsonl.gz)
    augment_opt=""
    if [ "${name}" = "${train_set}_cuts" ] && [ -n "${train_augment}" ]; then
      augment_opt="--augment ${train_augment}"
      name=${train_feats}  # beside the clean set's features, which other systems may train on
    fi
    sig3=$(signature "$(stamp "${cuts}")" "${augment_opt}" "${encoder_stamp[@]}")
    is_done "${feats_dir}/.${name}.done" "${sig3}" && continue
    if [ "${feats_kind}" = encoder ]; then  # the frozen encoder run once per cut (lhotse features)
      # shellcheck disable=SC2086
      ${train_cmd} --num_threads "${nj}" "${feats_dir}/log/${name}.log" \
        ${python} -m prefixasr.bin.cache_encoder --encoder "${encoder_path}" --name "$(basename "${feats_dir}")" \
        --cuts "${cuts}" --output-dir "${feats_dir}" --output-name "${name}.jsonl.gz" --num-jobs "${nj}" \
        ${augment_opt}
    else
      # shellcheck disable=SC2086
      ${train_cmd} --num_threads "${nj}" "${feats_dir}/log/${name}.log" \
        ${python} -m prefixasr.bin.compute_fbank --kind "${feats_kind}" --cuts "${cuts}" \
        --output-cuts "${feats_dir}/${name}.jsonl.gz" --num-jobs "${nj}" ${augment_opt}
    fi
    mark_done "${feats_dir}/.${name}.done" "${sig3}"
  done
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
  sig4=$(signature "$(stamp "${data_dir}/manifests/.valid.done")" "${nbpe}" "${bpe_type}")
  if ! is_done "${lang_dir}/.tokenizer.done" "${sig4}"; then
    log "Stage 4: tokenizers: ${lang_dir}/spm.model (${nbpe} pieces, shared by all languages), ${lang_dir}/chars.model"
    ${python} -m prefixasr.bin.train_tokenizer --text "${lang_dir}/lm_text.txt" \
      --manifest-dir "${data_dir}/manifests_valid" --splits "${train_set}" \
      --vocab-size "${nbpe}" --model-type "${bpe_type}" --output "${lang_dir}/spm"
    # The encoder's own units: characters (encoder CTC, pre-training). With --bpe_type char they are the
    # LLM's tokens too, one model, so the encoder CTC can speak to the LLM (projector.token_bridge: ctc).
    if [ "${bpe_type}" = char ]; then
      cp "${lang_dir}/spm.model" "${lang_dir}/chars.model"
      cp "${lang_dir}/spm.vocab" "${lang_dir}/chars.vocab"
    else
      ${python} -m prefixasr.bin.train_tokenizer --manifest-dir "${data_dir}/manifests_valid" \
        --splits "${train_set}" --model-type char --vocab-size 5000 --output "${lang_dir}/chars"
    fi
    mark_done "${lang_dir}/.tokenizer.done" "${sig4}"
  fi
fi

# What the training stages read: the tokenizers and the features they train and validate on.
train_inputs() {
  stamp "${lang_dir}/.tokenizer.done"
  stamp "${feats_dir}/.${train_feats}.done"
  stamp "${feats_dir}/.${valid_set}_cuts.done"
}

# train_lm_stage <exp> <signature> <config> <tokenizer> [overrides...]: stage 5's LM, pre-trained or adapted, into
# <exp> (an interrupted run resumes), then its held-out perplexity per language on the validation set
train_lm_stage() {
  local exp=$1 sig=$2 config=$3 tokenizer=$4 resume_opt=""
  shift 4
  fresh_exp "${exp}" "${sig}"
  write_replay "${exp}" 5
  [ -f "${exp}/checkpoint.pt" ] && resume_opt=--resume
  # shellcheck disable=SC2086
  ${train_cmd} "${exp}/log/train_lm.log" ${python} -m prefixasr.bin.train_lm --config "${config}" --exp-dir "${exp}" \
    ${resume_opt} data.text="${lang_dir}/lm_text.txt" data.tokenizer="${tokenizer}" "$@" ${lm_args}
  log "Stage 5: the LM's held-out perplexity per language on ${valid_set} -> ${exp}/perplexity.json"
  ${train_cmd} "${exp}/log/perplexity.log" ${python} -m prefixasr.bin.lm_perplexity --lm "${exp}/hf" \
    --tokenizer "${tokenizer}" --cuts "${feats_dir}/${valid_set}_cuts.jsonl.gz" --output "${exp}/perplexity.json"
  mark_done "${exp}/.done" "${sig}"
}

if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
  if [ -n "${llm_adapt_exp}" ]; then
    sig5=$(signature "$(stamp "${pretrained_lm}/config.json")" "$(config_stamp "${llm_adapt_config}")" "${lm_args}")
    if ! is_done "${llm_adapt_exp}/.done" "${sig5}"; then
      log "Stage 5: adapt ${pretrained_lm} to ${lang_dir}/lm_text.txt (${llm_adapt_config}) -> ${llm_adapt_exp}" \
        "(log: ${llm_adapt_exp}/train_lm.log)"
      train_lm_stage "${llm_adapt_exp}" "${sig5}" "${llm_adapt_config}" "${pretrained_lm}" \
        model.pretrained="${pretrained_lm}"
    fi
  elif [ -n "${pretrained_lm}" ]; then
    log "Stage 5: using the pretrained LM ${pretrained_lm}; nothing to pre-train"
  else
    sig5=$(signature "$(stamp "${lang_dir}/.tokenizer.done")" "$(config_stamp "${lm_config}")" "${lm_args}")
    if ! is_done "${lm_exp}/.done" "${sig5}"; then
      log "Stage 5: pre-train the LM (${lm_config}) -> ${lm_exp} (log: ${lm_exp}/train_lm.log)"
      train_lm_stage "${lm_exp}" "${sig5}" "${lm_config}" "${lang_dir}/spm.model"
    fi
  fi
  sig5n=$(signature "$(stamp "${lang_dir}/.tokenizer.done")" "${ngram_num}")
  if [ "${use_ngram}" = true ] && ! is_done "${ngram_file%/*}/.done" "${sig5n}"; then
    log "Stage 5: count a ${ngram_num}-gram LM over ${lang_dir}/lm_text.txt -> ${ngram_file}"
    ${train_cmd} "${ngram_file%/*}/log/train_ngram.log" ${python} -m prefixasr.bin.train_ngram \
      --text "${lang_dir}/lm_text.txt" --tokenizer "${lang_dir}/spm.model" --order "${ngram_num}" \
      --output "${ngram_file}" --valid-cuts "${feats_dir}/${valid_set}_cuts.jsonl.gz"
    mark_done "${ngram_file%/*}/.done" "${sig5n}"
  fi
fi

# train <stage> <config> <exp> <extra overrides...>: prefixasr.bin.train on the recipe's data; resumes an
# interrupted run; paths are config overrides (section.key=value), the model itself is all in the config.
train() {
  local n=$1 config=$2 exp=$3
  shift 3
  write_replay "${exp}" "${n}"
  local launcher="${python} -m" resume_opt=""
  [ "${ngpu}" -gt 1 ] && launcher="torchrun --standalone --nproc_per_node ${ngpu} -m"
  compgen -G "${exp}/checkpoint-*.pt" >/dev/null || compgen -G "${exp}/epoch-*.pt" >/dev/null &&
    resume_opt=--resume  # an interrupted run continues where it stopped
  # shellcheck disable=SC2086
  ${cuda_cmd} --gpu "${ngpu}" "${exp}/log/train.log" ${launcher} prefixasr.bin.train \
    --config "${config}" --exp-dir "${exp}" ${resume_opt} \
    data.train_cuts="${feats_dir}/${train_feats}.jsonl.gz" \
    data.valid_cuts="${feats_dir}/${valid_set}_cuts.jsonl.gz" \
    data.tokenizer="${lang_dir}/spm.model" data.char_tokenizer="${lang_dir}/chars.model" \
    data.lang_map="${lang_dir}/lang2id.json" "$@"
}

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
  sig6=$(signature "$(train_inputs)" "$(config_stamp "${pretrain_config}")" "${pretrain_args}" "${encoder_input[@]}")
  if [ -z "${pretrain_config}" ]; then
    log "Stage 6: no --pretrain_config; the systems train their encoders from scratch"
  elif ! is_done "${pretrain_exp}/.train.done" "${sig6}"; then
    log "Stage 6: pre-train the encoder (${pretrain_config}) -> ${pretrain_exp} (log: ${pretrain_exp}/train.log)"
    fresh_exp "${pretrain_exp}" "${sig6}"
    config=$(layered "${pretrain_exp}/system.yaml" "${pretrain_config}" "${encoder_config}")
    # shellcheck disable=SC2086
    train 6 "${config}" "${pretrain_exp}" "${encoder_opts[@]}" ${pretrain_args}
    mark_done "${pretrain_exp}/.train.done" "${sig6}"
  fi
fi

# The stage-7 system: its config with the encoder's block and then the pretrained LLM's on top (later includes
# win). Its decode: blocks and the decode.* options of --asr_args are the system's decode settings, which training
# never reads: stage 8 writes them into the experiment (ESPnet keeps its inference config apart likewise), so
# changing them redoes decoding and packing, not training.
train_args=() decode_opts=()
read -r -a asr_words <<< "${asr_args}"  # (split at blanks, no glob: [q_proj,v_proj] is a YAML list, not a pattern)
for a in "${asr_words[@]}"; do
  case "${a}" in decode.*) decode_opts+=("${a}") ;; *) train_args+=("${a}") ;; esac
done
if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
  lm_input=${pretrained_lm}
  [ -n "${pretrained_lm}" ] || lm_input=$(stamp "${lm_exp}/.done")
  [ -n "${llm_adapt_exp}" ] && lm_input=$(stamp "${llm_adapt_exp}/.done")
  pretrain_input=""
  [ -n "${pretrain_config}" ] && pretrain_input="$(stamp "${pretrain_exp}/.train.done") ${pretrain_avg}"
  llm_input=()  # (the signature of a run without --llm_config is the one it had before the option)
  [ -n "${llm_config}" ] && llm_input=("$(config_stamp "${llm_config}" train)" "$(stamp "${llm_path}/config.json")")
  sig7=$(signature "$(train_inputs)" "${lm_input}" "${pretrain_input}" "$(config_stamp "${asr_config}" train)" \
    "${train_args[*]}" "${llm_input[@]}" "${encoder_input[@]}")
  if ! is_done "${asr_exp}/.train.done" "${sig7}"; then
    log "Stage 7: train ${asr_config} -> ${asr_exp} (log: ${asr_exp}/train.log)"
    fresh_exp "${asr_exp}" "${sig7}"
    init_opts=()
    [ -n "${pretrain_config}" ] && init_opts=(model.init.path="${pretrain_exp}" model.init.avg="${pretrain_avg}")
    system_config=$(layered "${asr_exp}/system.yaml" "${asr_config}" "${encoder_config}" "${llm_config}")
    train 7 "${system_config}" "${asr_exp}" model.llm.path="${llm_path}" "${init_opts[@]}" "${encoder_opts[@]}" \
      "${train_args[@]}"
    mark_done "${asr_exp}/.train.done" "${sig7}"
  fi
fi

if [ "${stage}" -le 8 ] && [ "${stop_stage}" -ge 8 ]; then
  sig8=$(signature "$(stamp "${asr_exp}/.train.done")" "${avg}")
  if ! is_done "${asr_exp}/.avg${avg}.done" "${sig8}"; then
    log "Stage 8: average the last ${avg} epochs of ${asr_exp} (decoding and packing load it)"
    ${python} -m prefixasr.bin.average_checkpoints --exp-dir "${asr_exp}" --avg "${avg}"
    mark_done "${asr_exp}/.avg${avg}.done" "${sig8}"
  fi
  ngram_opts=() ngram_input=()
  if [ "${use_ngram}" = true ]; then
    ngram_opts=(decode.ngram="${ngram_file}" decode.ngram_weight="${ngram_weight}")
    ngram_input=("$(stamp "${ngram_file%/*}/.done")" "${ngram_weight}")
  fi
  system_config=$(layered "${asr_exp}/system.yaml" "${asr_config}" "${encoder_config}" "${llm_config}")
  sig8d=$(signature "$(stamp "${asr_exp}/.train.done")" "$(config_stamp "${system_config}" decode)" \
    "${ngram_input[@]}" "${decode_opts[@]}")
  if ! is_done "${asr_exp}/.decode_settings.done" "${sig8d}"; then
    log "Stage 8: write the decode settings of ${system_config} into ${asr_exp}/config.yaml"
    ${python} -m prefixasr.bin.set_decode_settings --exp-dir "${asr_exp}" --config "${system_config}" \
      "${ngram_opts[@]}" "${decode_opts[@]}"
    mark_done "${asr_exp}/.decode_settings.done" "${sig8d}"
  fi
fi

if [ "${stage}" -le 9 ] && [ "${stop_stage}" -ge 9 ]; then
  log "Stage 9: decode ${test_sets} with ${decode_methods}"
  # One torch thread per core at most: parallel jobs with default threading thrash on few cores. The cores are
  # the caller's OMP_NUM_THREADS where it sets one (a shared machine, or test workers side by side), else nproc.
  decode_threads=$(( ${OMP_NUM_THREADS:-$(nproc)} / nj ))
  [ "${decode_threads}" -ge 1 ] || decode_threads=1
  for dset in ${test_sets}; do
    forms=segments
    if [ "${long_form}" = true ] && [ -f "${feats_dir}/${dset}_long_cuts.jsonl.gz" ] &&
       { [ -z "${long_form_sets}" ] || [[ " ${long_form_sets} " == *" ${dset} "* ]]; }; then
      forms="segments long"
    fi
    for method in ${decode_methods}; do
      for form in ${forms}; do
        # the dir is named by the settings (ESPnet's inference_tag): other settings, another dir
        tag=${method}_avg${avg}$(echo "${decode_args}" | sed -e 's/--/_/g' -e 's/[ =/]//g')
        dir=${asr_exp}/decode_${dset}_${tag}
        cuts=${feats_dir}/${dset}_cuts.jsonl.gz
        form_opts=""
        if [ "${form}" = long ]; then
          cuts=${feats_dir}/${dset}_long_cuts.jsonl.gz
          window=${long_window}
          [[ "${method}" == llm_* ]] && window=${long_window_llm}
          if [ "${window}" = pauses ]; then
            dir=${asr_exp}/decode_${dset}_long_${tag}_pauses
            form_opts="--long-form --set-name ${dset}_long --split pauses"
          else
            read -r win ovl <<< "${window}"
            dir=${asr_exp}/decode_${dset}_long_${tag}_win${win}-${ovl}
            form_opts="--long-form --set-name ${dset}_long --split windows --window ${win} --overlap ${ovl}"
          fi
        fi
        sig9=$(signature "$(stamp "${asr_exp}/.avg${avg}.done")" "$(stamp "${asr_exp}/.decode_settings.done")" \
          "$(stamp "${feats_dir}/.$(basename "${cuts}" .jsonl.gz).done")")
        is_done "${dir}/.done" "${sig9}" && continue
        # a finished decode of other settings or inputs is made anew (the decode tool resumes an unfinished one only)
        [ -f "${dir}/.done" ] && rm -rf "${dir}"
        write_replay "${dir}" 9
        # The job that finishes last merges the parts and scores them. '$((JOB-1))' is expanded in
        # each job's shell, after run.pl/slurm.pl has put the job number in place of JOB.
        # shellcheck disable=SC2086,SC2016
        ${decode_cmd} --num_threads "${decode_threads}" JOB=1:"${nj}" "${dir}/log/decode.JOB.log" \
          ${python} -m prefixasr.bin.decode \
          --exp-dir "${asr_exp}" --avg "${avg}" --cuts "${cuts}" --set-name "${dset}" \
          --decode-dir "${dir}" --method "${method}" ${form_opts} \
          --num-jobs "${nj}" --job-index '$((JOB-1))' ${decode_args}
        mark_done "${dir}/.done" "${sig9}"
      done
    done
  done
fi

if [ "${stage}" -le 10 ] && [ "${stop_stage}" -ge 10 ]; then
  log "Stage 10: score every decode dir of ${asr_exp} and write ${results}"
  for dir in "${asr_exp}"/decode_*/; do
    [ -f "${dir}/text" ] || continue
    [ "${dir}/scores.json" -nt "${dir}/text" ] && continue
    ${python} -m prefixasr.bin.score "${dir}"
  done
  if [ -f "${results}" ] && [ -z "$(find "${exp_dir}" -name scores.json -newer "${results}")" ]; then
    log "${results} is newer than every scores.json; skipping"
  else
    baseline_opt=""
    [ -n "${baseline}" ] && baseline_opt="--baseline ${baseline}"
    # shellcheck disable=SC2086
    ${python} -m prefixasr.bin.show_results --exp-root "${exp_dir}" --output "${results}" ${baseline_opt}
    log "Results: ${results}"
  fi
fi

if [ "${stage}" -le 11 ] && [ "${stop_stage}" -ge 11 ]; then
  sig11=$(signature "$(stamp "${asr_exp}/.avg${avg}.done")" "$(stamp "${asr_exp}/.decode_settings.done")" \
    "$(stamp "${results}")")
  if ! is_done "${asr_exp}/.pack.done" "${sig11}"; then
    log "Stage 11: pack ${asr_exp} (last ${avg} epochs averaged) into ${asr_exp}/model.tar.gz"
    ${python} -m prefixasr.bin.pack --exp-dir "${asr_exp}" --avg "${avg}" --results "${results}" \
      --out "${asr_exp}/model.tar.gz"
    mark_done "${asr_exp}/.pack.done" "${sig11}"
  fi
  log "Transcribe your own audio: python -m prefixasr.bin.transcribe --model ${asr_exp}/model.tar.gz FILE..."
fi
