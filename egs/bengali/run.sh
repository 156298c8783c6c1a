#!/usr/bin/env bash
# Recipe: bengali, one language (bn). The worked example of adding a language (see README.md):
# scaffolded with `utils/setup_recipe.sh --conf_from egs/indic egs/bengali`. The stages live in the
# shared ./asr.sh (a symlink to egs/TEMPLATE/asr.sh); this file only sets what differs here.
# Usage: ./run.sh [--stage N] [--stop_stage M] [any asr.sh option]   (./run.sh --help lists them)
#   e.g. ./run.sh --stage 0 --stop_stage 4       # synthetic Bengali corpus, features, tokenizer
#        ./run.sh --data kaldi                   # your own Kaldi data dirs (KALDI_DATA in db.sh)
set -euo pipefail

langs="bn"                # languages of this recipe (ISO 639-1)
train_set=train
valid_set=dev
test_sets="test"
nbpe=500                  # one script (~70 characters); the rest are merges

cd "$(dirname "$0")"
./asr.sh \
  --langs "${langs}" \
  --train_set "${train_set}" \
  --valid_set "${valid_set}" \
  --test_sets "${test_sets}" \
  --nbpe "${nbpe}" \
  --asr_config conf/train.yaml \
  --lm_config conf/lm.yaml \
  "$@"
