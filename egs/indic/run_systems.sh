#!/usr/bin/env bash
# Train, decode and score every system of the paper's comparison on the same data, then write one
# results file with WER, CER and insertion rate per language, averages, and relative changes against
# the paper's two baselines: the fine-tuned prefixLM (ft_ce) and the frozen basic soft-prompt prefixLM
# (frozen_shared). Data, tokenizer, LM and the pre-trained encoder (stages 0-6 of asr.sh) are shared by
# all systems; each system is asr.sh stages 7-9 with its conf/systems/<name>.yaml, starting from that
# encoder, so reruns skip finished systems.
# Usage: ./run_systems.sh [options] [-- more asr.sh options]
#   e.g. ./run_systems.sh --langs "hi ta" --epochs 8 --data_dir data_hi_ta --exp_dir exp_systems_hi_ta
set -euo pipefail

systems="rnnt_only ft_ce ft_ce_ctc ft_ce_rnnt frozen_shared frozen_shared_rnnt frozen_langid frozen_langid_rnnt"  # ../../conf/systems/<name>.yaml
epochs=10                         # training epochs of every system
baselines="ft_ce frozen_shared"   # the paper's two baselines (one relative column each)
langs="bn gu hi kn ml mr or pa ta te"  # languages
data_dir=data                     # shared data (stages 0-4)
exp_dir=exp_systems               # one sub-directory per system, plus the shared LM and pre-trained encoder
long_form=false                   # also decode whole recordings (doubles decoding time)
results=RESULTS_systems.md        # the comparison table (+ RESULTS_systems_*.png charts)
python=python3                    # interpreter for the prefixasr tools (asr.sh's --python too)

cd "$(dirname "$0")"
. utils/log.sh
. utils/parse_options.sh  # stops at "--"; the rest goes to asr.sh
[ "${1:-}" = "--" ] && shift
. ./path.sh  # the venv's python

# the data options of run.sh, so the two share data/ (a changed data option would redo the shared stages)
common=(--python "${python}" --langs "${langs}" --data_dir "${data_dir}" --exp_dir "${exp_dir}" --bpe_type char
        --nbpe 5000 --local_data_opts "--preset mini" --lm_config conf/lm.yaml --long_form "${long_form}")
log "shared stages 0-6: data, tokenizers, LM, pre-trained encoder"
./asr.sh "${common[@]}" --stage 0 --stop_stage 6 "$@"

for sys in ${systems}; do
  config=../../conf/systems/${sys}.yaml
  [ -f "${config}" ] || die "no system config ${config}"
  method=llm_greedy
  [ "${sys}" = rnnt_only ] && method=rnnt_greedy  # no LLM: its own transducer decodes
  log "system ${sys}: train ${epochs} epochs, decode with ${method}"
  ./asr.sh "${common[@]}" --stage 7 --stop_stage 9 --asr_config "${config}" --asr_tag "${sys}" \
    --asr_args "train.num_epochs=${epochs}" --decode_methods "${method}" "$@"
done

log "scoring and ${results}"
${python} -m prefixasr.bin.show_results --exp-root "${exp_dir}" --output "${results}" \
  --baseline ${baselines}
log "done: ${PWD}/${results}"
