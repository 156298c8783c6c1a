#!/usr/bin/env bash
# Stage 0 of this recipe: put each set (train, dev, test...) where stage 1 reads it, from one source:
#   synthetic  the embedded synthetic long-form corpus (Debian catalog text + espeak-ng), built by
#              prefixasr.bin.prepare_synthetic: lhotse manifests, lang2id.json, lm_text.txt; no corpus needed
#   kaldi      Kaldi data dirs $KALDI_DATA/{train,dev,test} (db.sh), copied to data/<set>/; a missing
#              utt2lang is filled with the one language; stage 1 validates and imports them
# Add a case branch for your own source (see local/README.md).
# Usage: local/data.sh [--data synthetic|kaldi] [--langs "hi bn"] [--data_dir data] [--text_dir DIR]
set -euo pipefail

data=synthetic         # data source: synthetic | kaldi
langs="hi bn"          # languages; with one language, a missing utt2lang is filled with it
data_dir=data          # output root
sets="train dev test"  # kaldi only: set names to copy (sub-directories of $KALDI_DATA)
preset=mini            # synthetic only: mini (CPU demo) | full (hours per language)
seed=42                # synthetic only: same seed, same corpus
train_utts=""          # synthetic only: train utterances (empty: the preset's)
dev_utts=""            # synthetic only: dev utterances (empty: the preset's)
test_utts=""           # synthetic only: test utterances (empty: the preset's)
download_dir=downloads # synthetic only: cache of the Debian packages and harvested text
text_dir=""            # synthetic only: use <text_dir>/<lang>.txt sentences instead of harvesting
nj=2                   # parallel jobs (asr.sh passes its --nj)
python=python3         # interpreter (asr.sh passes its --python)
. utils/log.sh
. utils/parse_options.sh
. ./db.sh

read -r -a lang_list <<< "${langs}"
case "${data}" in
  synthetic)
    opts=()
    [ -n "${train_utts}" ] && opts+=(--train-utts "${train_utts}")
    [ -n "${dev_utts}" ] && opts+=(--dev-utts "${dev_utts}")
    [ -n "${test_utts}" ] && opts+=(--test-utts "${test_utts}")
    [ -n "${text_dir}" ] && opts+=(--text-dir "${text_dir}")
    ${python} -m prefixasr.bin.prepare_synthetic --preset "${preset}" --languages "${lang_list[@]}" \
      --seed "${seed}" --output-dir "${data_dir}" --download-dir "${download_dir}" --num-jobs "${nj}" \
      "${opts[@]}"
    ;;
  kaldi)
    [ -n "${KALDI_DATA}" ] || die "KALDI_DATA is empty: set it in db.sh to the directory holding ${sets// /\/, }/"
    for dset in ${sets}; do
      src=${KALDI_DATA}/${dset}
      [ -f "${src}/utt2spk" ] || die "${src} is not a Kaldi data dir (no utt2spk)"
      mkdir -p "${data_dir}/${dset}"
      for f in wav.scp segments text utt2spk spk2utt utt2lang utt2dur reco2dur; do
        [ -f "${src}/${f}" ] && cp "${src}/${f}" "${data_dir}/${dset}/${f}"
      done
      if [ ! -f "${data_dir}/${dset}/utt2lang" ]; then
        [ "${#lang_list[@]}" -eq 1 ] || die "${src} has no utt2lang and --langs is not one language"
        awk -v l="${lang_list[0]}" '{ print $1, l }' "${src}/utt2spk" > "${data_dir}/${dset}/utt2lang"
      fi
      log "copied ${src} -> ${data_dir}/${dset} ($(wc -l < "${src}/utt2spk") utterances)"
    done ;;
  *) die "unknown --data ${data}: synthetic or kaldi (add a case branch here for another source)" ;;
esac
# Stage 1 (asr.sh) validates data/<set>/ and writes lang2id.json and lm_text.txt when missing.
