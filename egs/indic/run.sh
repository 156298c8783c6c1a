#!/usr/bin/env bash
# The Indic recipe: 10 languages, the embedded synthetic long-form corpus by default (no speech
# download), the proposed system (see conf/train.yaml). The stages live in the shared ./asr.sh
# (a symlink to egs/TEMPLATE/asr.sh); this file only sets what differs for this recipe.
# Usage: ./run.sh [--stage N] [--stop_stage M] [any asr.sh option]   (./run.sh --help lists them)
#   e.g. ./run.sh --langs "hi ta" --stage 0 --stop_stage 4
#        ./run.sh --data fleurs          # with FLEURS set in db.sh
set -euo pipefail

langs="bn gu hi kn ml mr or pa ta te"   # languages of this recipe (ISO 639-1)
train_set=train
valid_set=dev
test_sets="test test_unseen test_noisy"   # test_unseen: other text source, voices never used in training (local/data.sh);
noisy_sets="test"                         # test_noisy: test with babble of 3 other test speakers at 10 dB, reverberated
bpe_type=char             # characters are the LLM's tokens as they are the encoder's (~540 over ten scripts;
nbpe=5000                 # then only an upper bound): word pieces do not train in the CPU budget (docs/convergence.md)
# 10-20 s train recordings, one speaker each: 3x the voices for the same speech (docs/convergence.md D2); 60 dev
# utterances a language, not the preset's 20: the decoding's settings are chosen on dev (docs/convergence.md, part 20)
local_data_opts="--preset mini --train_rec_seconds 10,20 --dev_utts 60"
# the training set with a noise copy (another utterance or synthetic noise at 10-20 dB SNR, prefixasr/data/augment.py):
# at equal steps it lowers CER on noisy speech for the Conformer and for Whisper + adapter alike (docs/convergence.md
# part 22, W2-W3); on the ten languages it costs ~1.5 points on clean test (part 23, D3). The epochs are halved: the
# same steps as 8 and 2 epochs of the clean set
# (an --asr_args or --pretrain_args of yours replaces these; --train_augment "" trains on the clean set alone)
train_augment=noise
pretrain_args="train.num_epochs=4"   # stage 6 (conf/pretrain.yaml's 8 epochs over the clean set)
asr_args="train.num_epochs=1"        # stage 7 (conf/train.yaml: 2 epochs over the clean set)
avg=1                                # stage 7's last epochs averaged
nj=$(nproc)               # decoding/feature jobs: one a core, each with one torch thread (4 on 2 cores: 20% slower)
long_form_sets="test"     # whole recordings decoded for test only (test_unseen's would add a minute to the demo)
# a character 6-gram (Kneser-Ney, counted in seconds over the LM's text) fused into the LLM's search: with greedy
# search at 0.3, dev CER 13.9 -> 12.6%, WER 61.9 -> 54.3% (docs/convergence.md, part 16)
use_ngram=true
# the LLM searches with a beam of 4 (and greedily, for comparison: a minute more), the RNN-T greedily; with the beam
# the n-gram is worth more: weight 0.3 -> 0.5, dev CER 10.8 -> 10.1%, WER 46.7 -> 42.4% (greedy at 0.3: 12.6 and
# 54.3%; docs/convergence.md, part 18); on 600 dev utterances 0.7 has 4% (relative) fewer word errors than 0.5 at
# the same CER (part 20)
decode_methods="llm_beam llm_greedy rnnt_greedy"
ngram_weight=0.7

cd "$(dirname "$0")"
./asr.sh \
  --langs "${langs}" \
  --train_set "${train_set}" \
  --valid_set "${valid_set}" \
  --test_sets "${test_sets}" \
  --noisy_sets "${noisy_sets}" \
  --train_augment "${train_augment}" \
  --pretrain_args "${pretrain_args}" \
  --asr_args "${asr_args}" \
  --avg "${avg}" \
  --local_data_opts "${local_data_opts}" \
  --bpe_type "${bpe_type}" \
  --nbpe "${nbpe}" \
  --nj "${nj}" \
  --long_form_sets "${long_form_sets}" \
  --use_ngram "${use_ngram}" \
  --ngram_weight "${ngram_weight}" \
  --decode_methods "${decode_methods}" \
  --asr_config conf/train.yaml \
  --lm_config conf/lm.yaml \
  "$@"
