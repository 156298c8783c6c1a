#!/usr/bin/env bash
# The paper's comparison, measured: train, decode and score every system of ../../conf/systems/ on the same
# data, the same LM and the same pre-trained encoder (asr.sh stages 0-6, shared), each with the same stage-7
# budget (../../conf/prefix/ctc_bridge.yaml), then one results file: WER, CER and insertion rate per language on
# segments, whole recordings and code-switched speech (test_cs), the relative changes against the paper's two
# baselines, the paper's claims with paired bootstrap 95% intervals, and the LM's held-out perplexity per language.
# Reruns skip finished systems (asr.sh's sentinels).
# Usage: ./run_systems.sh [options] [-- more asr.sh options]
#   e.g. ./run_systems.sh --langs "bn hi ta" --data_dir data_bn_hi_ta --exp_dir exp_systems_bn_hi_ta
set -euo pipefail

systems="rnnt_only ft_ce ft_ce_ctc ft_ce_rnnt frozen_shared frozen_shared_rnnt frozen_langid frozen_langid_rnnt"  # ../../conf/systems/<name>.yaml
epochs=""                         # stage-7 epochs of every system; empty = the systems' own (2)
baselines="ft_ce frozen_shared"   # the paper's two baselines (one relative column each)
# baseline:system pairs compared with paired bootstrap intervals: the paper's two claims (RNN-T prefix-tuning;
# frozen LLM + RNN-T + langID prompts), then beyond the paper: CTC instead of RNN-T on the prefix
compare="ft_ce:ft_ce_rnnt frozen_shared:frozen_langid_rnnt ft_ce:ft_ce_ctc"
langs="bn gu hi kn ml mr or pa ta te"  # languages
test_sets="test test_cs"          # test_cs: test's sentences, each followed by an English phrase (code-switching)
train_utts=1000                   # train utterances per language (the mini corpus has 300; more voices generalise:
                                  # D1 in docs/convergence.md, test CER 21.9 -> 10.3% at equal steps)
test_utts=60                      # test and test_cs utterances per language (about five recordings, five voices)
pretrain_config=conf/pretrain_systems.yaml  # stage 6: the pre-training RESULTS_systems.md measured
pretrain_epochs=6                 # stage-6 epochs on that data (as many steps as conf/pretrain.yaml's 10 had on 300)
lm_config=conf/lm_systems.yaml    # the shared LM: run.sh's conf/lm.yaml for twice the steps (a frozen LLM reads as
                                  # well as its LM stage taught it: docs/convergence.md part 11)
data_dir=data_systems             # shared data (stages 0-4)
exp_dir=exp_systems               # one sub-directory per system, plus the shared LM and pre-trained encoder
long_form=true                    # also decode whole recordings
decode_args="--ctc-weight 0"      # the LLM alone, as the paper decodes (the shared encoder CTC would even them out)
predicted_langid=true             # also decode the langID-prompt systems with the LID head's language (not the oracle)
lowres="hi=0.1"                   # LANG=FRACTION: a low-resource run, that share of LANG's training data for its own
                                  # encoder pre-training and the systems below (the LM is shared); empty = none
lowres_systems="ft_ce ft_ce_rnnt" # the low-resource systems: without and with the RNN-T loss (compared in the table)
results=RESULTS_systems.md        # the comparison (+ RESULTS_systems_*.png charts)
python=python3                    # interpreter for the prefixasr tools (asr.sh's --python too)

cd "$(dirname "$0")"
command_line=$(printf '%q ' ./run_systems.sh "$@")  # written at the top of ${results}
. utils/log.sh
. utils/parse_options.sh  # stops at "--"; the rest goes to asr.sh
[ "${1:-}" = "--" ] && shift
. ./path.sh  # the venv's python
SECONDS=0

# run.sh's data and tokenizer options but more training and test speech (a changed option redoes the shared stages)
data_opts="--preset mini --train_utts ${train_utts} --test_utts ${test_utts} --cs_utts ${test_utts}"
common=(--python "${python}" --langs "${langs}" --data_dir "${data_dir}" --exp_dir "${exp_dir}" --bpe_type char
        --nbpe 5000 --local_data_opts "${data_opts}" --lm_config "${lm_config}" --test_sets "${test_sets}"
        --long_form "${long_form}" --pretrain_config "${pretrain_config}"
        --pretrain_args "train.num_epochs=${pretrain_epochs}")
log "shared stages 0-6: data, tokenizers, LM (and its held-out perplexity per language), pre-trained encoder"
./asr.sh "${common[@]}" --stage 0 --stop_stage 6 "$@"

epoch_args=""
[ -n "${epochs}" ] && epoch_args="train.num_epochs=${epochs}"
for sys in ${systems}; do
  config=../../conf/systems/${sys}.yaml
  [ -f "${config}" ] || die "no system config ${config}"
  method=llm_greedy args=${decode_args}
  [ "${sys}" = rnnt_only ] && method=rnnt_greedy args=""  # no LLM: its own transducer decodes
  log "system ${sys}: train, decode with ${method} ${args}"
  ./asr.sh "${common[@]}" --stage 7 --stop_stage 9 --asr_config "${config}" --asr_tag "${sys}" \
    --asr_args "${epoch_args}" --decode_methods "${method}" --decode_args "${args}" "$@"
  if [ "${predicted_langid}" = true ] && grep -q "type: langid" "${config}"; then
    log "system ${sys}: the prompts of the language the LID head predicts"
    ./asr.sh "${common[@]}" --stage 9 --stop_stage 9 --asr_config "${config}" --asr_tag "${sys}" \
      --asr_args "${epoch_args}" --decode_methods "${method}" --decode_args "${args} --langid predicted" \
      --long_form false "$@"
  fi
done

if [ -n "${lowres}" ]; then
  lang=${lowres%%=*} fraction=${lowres#*=}
  sub=train_${lang}${fraction} tag=lowres_${lang}${fraction}
  cuts=${data_dir}/fbank/${sub}_cuts.jsonl.gz
  if [ ! -s "${cuts}" ]; then
    log "low-resource: ${fraction} of ${lang}'s training cuts -> ${cuts}"
    ${python} -m prefixasr.bin.subset_cuts --cuts "${data_dir}/fbank/train_cuts.jsonl.gz" --language "${lang}" \
      --fraction "${fraction}" --output "${cuts}"
    # the sentinel asr.sh's training stages sign their inputs with (its first line: the content)
    printf '%s\n%s\n' "$(md5sum < "${cuts}" | cut -c1-16)" "$(date '+%F %T.%N')" > "${data_dir}/fbank/.${sub}_cuts.done"
  fi
  for sys in ${lowres_systems}; do
    log "low-resource system ${tag}_${sys}: encoder pre-training and the system on ${sub}"
    ./asr.sh "${common[@]}" --stage 6 --stop_stage 9 --train_set "${sub}" --pretrain_tag "${tag}_pretrain" \
      --pretrained_lm "${exp_dir}/lm/hf" --asr_config "../../conf/systems/${sys}.yaml" --asr_tag "${tag}_${sys}" \
      --asr_args "${epoch_args}" --decode_methods llm_greedy --decode_args "${decode_args}" --test_sets test \
      --long_form false "$@"
  done
  read -r -a pair <<< "${lowres_systems}"
  [ "${#pair[@]}" -eq 2 ] && compare="${compare} ${tag}_${pair[0]}:${tag}_${pair[1]}"
fi

log "scoring and ${results}"
preamble="Made by \`cd egs/indic && ${command_line% }\` in $((SECONDS / 60)) min on $(nproc) CPU cores (stages an earlier run finished are skipped, not counted)."
ppl=()  # stage 5 measures it; not when the LM came by --pretrained_lm
[ -f "${exp_dir}/lm/perplexity.json" ] && ppl=(--lm-perplexity "${exp_dir}/lm/perplexity.json")
# shellcheck disable=SC2086
${python} -m prefixasr.bin.show_results --exp-root "${exp_dir}" --output "${results}" --preamble "${preamble}" \
  --keep "In short" \
  --baseline ${baselines} --compare ${compare} "${ppl[@]}"
log "done in $((SECONDS / 60)) min $((SECONDS % 60)) s: ${results}"
