#!/usr/bin/env bash
# Recipe: indic. Thin on purpose: the stages live in the shared ./asr.sh (a symlink to
# egs/TEMPLATE/asr.sh); this file only sets what differs for this recipe.
# Usage: ./run.sh [--stage N] [--stop_stage M] [any asr.sh option]   (./run.sh --help lists them)
set -euo pipefail

langs="hi bn"                 # languages of this recipe
train_set=train
valid_set=dev
test_sets="test"

cd "$(dirname "$0")"
./asr.sh \
  --langs "${langs}" \
  --train_set "${train_set}" \
  --valid_set "${valid_set}" \
  --test_sets "${test_sets}" \
  --asr_config conf/train.yaml \
  --lm_config conf/lm.yaml \
  "$@"
