#!/usr/bin/env bash
# A real pretrained LLM through the recipe: the demo's system (conf/train.yaml) with Gemma 3 270M beside the same
# system with the recipe's own 3.5M LM, on the same data, encoder pre-training and stage-7 epochs; then the
# paper's two comparisons with Gemma (RNN-T on the prefix or not; frozen LLM with langID prompts + RNN-T against
# the basic soft prompt). One results file: WER, CER, insertions and loops per language, and the comparisons with
# paired bootstrap 95% intervals. Every stage resumes (asr.sh's sentinels): rerun the same command after a kill.
# Needs: make -C tools gemma3-270m whisper-base
# Usage: ./run_gemma.sh [options] [-- more run.sh options]
#   e.g. ./run_gemma.sh --langs "bn hi ta" --data_dir data3 --exp_dir exp3
set -euo pipefail

langs="bn hi ta"                 # three languages in three scripts (all ten: --langs "bn gu hi kn ml mr or pa ta te")
data_dir=data3                   # shared data (stages 0-4)
exp_dir=exp3                     # the shared LM, pre-trained encoder and n-gram, and one sub-directory per system
llm_config=../../conf/llm/gemma3_270m.yaml  # the pretrained LLM's block
llm_adapt_config=../../conf/lm/gemma3_270m_adapt.yaml  # adapt it to the LM text first (stage 5, ${exp_dir}/lm_<config
                                 # name>); every Gemma system starts from the adapted one; "" = Gemma as released
encoder_config=../../conf/encoder/whisper_base_ft.yaml  # every system's encoder: Whisper base, fine-tuned (make -C
                                 # tools whisper-base); "" = the recipe's Conformer on fbank (the first runs' encoder)
# every system's stage 7: a mild SpecAugment (without it Gemma copies the CTC's text; docs/convergence.md part 31)
asr_args="data.loader.spec_augment=true data.loader.time_warp_factor=0 data.loader.features_mask_size=10"
asr_args+=" data.loader.num_frame_masks=4 data.loader.frames_mask_size=20 data.loader.max_frames_mask_fraction=0.05"
# systems: the demo's (small LM, then Gemma), then the comparisons' systems with Gemma
decode_methods="llm_beam rnnt_greedy"  # the demo systems' searches (the recipe's LLM beam, and its RNN-T)
# two training runs of one config read a test set differently (docs/convergence.md part 36): run each demo system
# N times, the first with its config's seed, run k+1 with train.seed=k into <system>_seed<k>; the pair's comparison
# is then over each side's mean
small_lm_runs=3                  # the small LM's system (stage 7 ~4 min and its decodes ~3 on 2 cores)
gemma_runs=1                     # Gemma's (stage 7 ~31 min and its decodes ~18 on 2 cores)
comparisons="ft_ce ft_ce_rnnt frozen_shared frozen_langid_rnnt"  # ../../conf/systems/<name>.yaml; empty = none
compare_decode_args="--ctc-weight 0"  # the comparisons read the LLM alone, as the paper (and run_systems.sh) do
results=RESULTS_gemma.md          # the results (+ RESULTS_gemma_*.png charts)
python=python3

cd "$(dirname "$0")"
command_line=$(printf '%q ' ./run_gemma.sh "$@")  # written at the top of ${results}
. utils/log.sh
. utils/parse_options.sh  # stops at "--"; the rest goes to run.sh
[ "${1:-}" = "--" ] && shift
. ./path.sh
SECONDS=0
# each run.sh call writes its own table into the exp dir (stage 10), not over the demo's RESULTS.md
# on the clean training set (not run.sh's default noise copy) with the configs' own epochs, and without test_noisy (an
# encoder's test, #28), as RESULTS_gemma.md was made
common=(--langs "${langs}" --data_dir "${data_dir}" --exp_dir "${exp_dir}" --python "${python}"
        --results "${exp_dir}/RESULTS_stage10.md" --test_sets "test test_unseen" --noisy_sets ""
        --train_augment "" --pretrain_args "" --encoder_config "${encoder_config}" --asr_args "${asr_args}" --avg 2)

# more_runs <system> <runs> [run.sh options]: its runs after the first (stage 7 on, the same searches)
more_runs() {
  local tag=$1 runs=$2 k
  shift 2
  for ((k = 1; k < runs; k++)); do
    log "run $((k + 1)) of ${runs} of ${tag} (train.seed=${k}) -> ${exp_dir}/${tag}_seed${k}"
    ./run.sh "${common[@]}" --stage 7 --asr_tag "${tag}_seed${k}" --asr_args "${asr_args} train.seed=${k}" \
      --decode_methods "${decode_methods}" "$@"
  done
}
# the pair's sides for show_results: small_lm+small_lm_seed1+...
sides() { local k side=$1; for ((k = 1; k < $2; k++)); do side+="+$1_seed${k}"; done; echo "${side}"; }

log "shared stages 0-6 and the demo system with the recipe's LM -> ${exp_dir}/small_lm"
./run.sh "${common[@]}" --asr_tag small_lm --decode_methods "${decode_methods}" "$@"
more_runs small_lm "${small_lm_runs}" "$@"
llm=(--llm_config "${llm_config}" --llm_adapt_config "${llm_adapt_config}")
log "the demo system with Gemma 3 270M -> ${exp_dir}/gemma"
./run.sh "${common[@]}" --stage 5 --asr_tag gemma "${llm[@]}" --decode_methods "${decode_methods}" "$@"
more_runs gemma "${gemma_runs}" "${llm[@]}" "$@"
compare="$(sides small_lm "${small_lm_runs}"):$(sides gemma "${gemma_runs}")"
for sys in ${comparisons}; do
  log "system ${sys} with Gemma 3 270M -> ${exp_dir}/gemma_${sys}"
  ./run.sh "${common[@]}" --stage 7 --stop_stage 9 --asr_config "../../conf/systems/${sys}.yaml" \
    --asr_tag "gemma_${sys}" "${llm[@]}" --decode_methods llm_greedy \
    --decode_args "${compare_decode_args}" --long_form false "$@"
done
[[ " ${comparisons} " = *" ft_ce_rnnt "* ]] && compare="${compare} gemma_ft_ce:gemma_ft_ce_rnnt"
[[ " ${comparisons} " = *" frozen_langid_rnnt "* ]] && compare="${compare} gemma_frozen_shared:gemma_frozen_langid_rnnt"

log "scoring and ${results}"
preamble="Made by \`cd egs/indic && ${command_line% }\` in $((SECONDS / 60)) min on $(nproc) CPU cores (stages an earlier run finished are skipped, not counted)."
# shellcheck disable=SC2086
${python} -m prefixasr.bin.show_results --exp-root "${exp_dir}" --output "${results}" --preamble "${preamble}" \
  --keep "In short" \
  --baseline small_lm --compare ${compare}
log "done in $((SECONDS / 60)) min $((SECONDS % 60)) s: ${results}"
