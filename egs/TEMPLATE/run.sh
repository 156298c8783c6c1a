#!/usr/bin/env bash
# Recipe: RECIPE_NAME. Thin on purpose: the stages live in the shared ./asr.sh (a symlink to
# egs/TEMPLATE/asr.sh); this file only sets what differs for this recipe.
# Usage: ./run.sh [--stage N] [--stop_stage M] [any asr.sh option]   (./run.sh --help lists them)
set -euo pipefail

langs="hi bn"                 # languages of this recipe
train_set=train
valid_set=dev
test_sets="test"
bpe_type=char                 # characters are the LLM's and the encoder's units (conf/train.yaml's token bridge)
nbpe=5000                     # with char, only an upper bound

cd "$(dirname "$0")"
./asr.sh \
  --langs "${langs}" \
  --train_set "${train_set}" \
  --valid_set "${valid_set}" \
  --test_sets "${test_sets}" \
  --bpe_type "${bpe_type}" \
  --nbpe "${nbpe}" \
  --asr_config conf/train.yaml \
  --lm_config conf/lm.yaml \
  "$@"
