#!/usr/bin/env bash
# A speech encoder that has heard real speech, through the recipe: the demo's system (conf/train.yaml) on the
# recipe's own Conformer (pre-trained by stage 6 on Kaldi fbank) beside the same system on frozen Whisper base with
# a trainable adapter (stage 3 caches Whisper's outputs once per cut; stage 6 pre-trains the adapter) and on Whisper
# base fine-tuned by stage 6 on its own log-mel (~7x the Conformer's stage-6 time here), on the same data, LM and
# epochs. Test sets: test, test_unseen (other text, unseen voices), test_noisy (test with babble at
# 10 dB SNR, reverberated). One results file: WER, CER, insertions per language and set, the comparison with paired
# bootstrap 95% intervals, and each encoder's wall time (its feature stage and its pre-training). Each encoder is
# trained on the clean training set and, for each of --augments, on it with its augmented copies (asr.sh
# --train_augment) at equal steps: the stage-6 and stage-7 epochs divided by the copies' factor.
# Every stage resumes (asr.sh's sentinels): rerun the same command after a kill.
# Needs: make -C tools whisper-base
# Usage: ./run_encoders.sh [options] [-- more run.sh options]
#   e.g. ./run_encoders.sh --langs "bn hi ta" --data_dir data4 --exp_dir exp4
set -euo pipefail

langs="bn hi ta"                 # three languages in three scripts (all ten: --langs "bn gu hi kn ml mr or pa ta te")
data_dir=data4                   # shared data (stages 0-2, 4); each encoder's features in <data_dir>/<its kind>
exp_dir=exp4                     # the shared LM and n-gram, each encoder's pre-training and system
encoders="conformer:- whisper_base:../../conf/encoder/whisper_base.yaml whisper_base_ft:../../conf/encoder/whisper_base_ft.yaml"  # tag:block (- = the Conformer)
augments="- noise"               # training sets: - = clean; noise, reverb, speed or a+b (docs/convergence.md part 22)
pretrain_epochs=8                # conf/pretrain.yaml's epochs over the clean set ...
system_epochs=2                  # ... and conf/train.yaml's: with copies, divided by the copies' factor
avg=2                            # the system's last epochs averaged (at most its epochs)
decode_methods="llm_beam rnnt_greedy"  # the demo system's searches (the recipe's LLM beam, and its RNN-T)
results=RESULTS_encoders.md       # the results (+ RESULTS_encoders_*.png charts)
python=python3

cd "$(dirname "$0")"
command_line=$(printf '%q ' ./run_encoders.sh "$@")  # written at the top of ${results}
. utils/log.sh
. utils/parse_options.sh  # stops at "--"; the rest goes to run.sh
[ "${1:-}" = "--" ] && shift
. ./path.sh
SECONDS=0
# each run.sh call writes its own table into the exp dir (stage 10), not over the demo's RESULTS.md
common=(--langs "${langs}" --data_dir "${data_dir}" --exp_dir "${exp_dir}" --python "${python}"
        --results "${exp_dir}/RESULTS_stage10.md" --decode_methods "${decode_methods}")

log "shared stages 0-2 (data, manifests with test_noisy, segments)"
./run.sh "${common[@]}" --stage 0 --stop_stage 2 "$@"
# seconds of the jobs whose run.pl logs are given (their "# Accounting: time=N" lines), whenever they ran
job_seconds() {
  cat "$@" 2>/dev/null | awk -F'time=' '/^# Accounting/ {split($2, a, " "); s += a[1]} END {print s + 0}'
}
minutes() { awk -v s="$1" 'BEGIN {printf "%.1f", s / 60}'; }
# a feature dir's job logs: every set's, and of the training sets only the one given
feature_logs() {
  local f
  for f in "$1"/log/*.log; do
    case $(basename "${f}" .log) in "$2") echo "${f}" ;; train_*) ;; *) echo "${f}" ;; esac
  done
}
timing=""  # each system's encoder wall time: its feature stage (all sets) and its pre-training
compare="" baseline=""  # pairs of systems with the same training set; the first system of all
for aug in ${augments}; do
  # the clean set: not run.sh's default noise copy, and the configs' own epochs
  suffix="" aug_opts=(--train_augment "" --pretrain_args "" --asr_args "" --avg "${avg}") first=""
  if [ "${aug}" != - ]; then
    suffix=_${aug//+/_}
    factor=1  # the training set's size with its copies: one copy per noise or reverb, two per speed (0.9x, 1.1x)
    for kind in ${aug//+/ }; do
      if [ "${kind}" = speed ]; then factor=$((factor + 2)); else factor=$((factor + 1)); fi
    done
    pre_epochs=$(( (pretrain_epochs + factor / 2) / factor )) sys_epochs=$(( (system_epochs + factor / 2) / factor ))
    pre_epochs=$(( pre_epochs > 0 ? pre_epochs : 1 )) sys_epochs=$(( sys_epochs > 0 ? sys_epochs : 1 ))
    aug_opts=(--train_augment "${aug//+/ }" --pretrain_args "train.num_epochs=${pre_epochs}"
              --asr_args "train.num_epochs=${sys_epochs}" --avg $(( avg < sys_epochs ? avg : sys_epochs )))
  fi
  for pair in ${encoders}; do
    tag=${pair%%:*}${suffix} block=${pair#*:}
    enc_opts=() feats=${data_dir}/fbank pretrain_tag=pretrain${suffix}
    if [ "${block}" != - ]; then
      enc_opts=(--encoder_config "${block}")
      feats=${data_dir}/$(python3 utils/encoder_features.py "${block}" "${MAIN_ROOT}" | cut -d' ' -f2)
      pretrain_tag=pretrain_$(basename "${block}" .yaml)${suffix}
    fi
    enc_opts+=(--pretrain_tag "${pretrain_tag}" "${aug_opts[@]}")
    log "${tag}: stage 3 (its features), stages 4-5 (shared: done by the first), stage 6 (pre-training the encoder)"
    ./run.sh "${common[@]}" "${enc_opts[@]}" --stage 3 --stop_stage 6 "$@"
    log "${tag}: stages 7-11 (the demo's system) -> ${exp_dir}/${tag}"
    ./run.sh "${common[@]}" "${enc_opts[@]}" --stage 7 --asr_tag "${tag}" "$@"
    train_feats=train_cuts
    [ "${aug}" = - ] || train_feats=train_${aug//+/_}_cuts
    # shellcheck disable=SC2046
    feats_s=$(job_seconds $(feature_logs "${feats}" "${train_feats}"))
    pre_s=$(job_seconds "${exp_dir}/${pretrain_tag}/log/train.log")
    timing="${timing} ${tag}: features $(minutes "${feats_s}") min, pre-training $(minutes "${pre_s}") min;"
    if [ -z "${first}" ]; then first=${tag}; else compare="${compare} ${first}:${tag}"; fi
    [ -n "${baseline}" ] || baseline=${tag}
  done
done

log "scoring and ${results}"
preamble="Made by \`cd egs/indic && ${command_line% }\` in $((SECONDS / 60)) min on $(nproc) CPU cores (stages an earlier run finished are skipped, not counted). Encoder wall time (its jobs' own times, whenever they ran):${timing%;}."
# shellcheck disable=SC2086
${python} -m prefixasr.bin.show_results --exp-root "${exp_dir}" --output "${results}" --preamble "${preamble}" \
  --keep "In short" \
  --baseline "${baseline}" --compare ${compare}
log "done in $((SECONDS / 60)) min $((SECONDS % 60)) s: ${results}"
