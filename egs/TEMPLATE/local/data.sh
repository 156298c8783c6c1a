#!/usr/bin/env bash
# Stage 0 of this recipe: put each set (train, dev, test...) into data/<set>/ as a Kaldi data dir
# (wav.scp, text, utt2spk, spk2utt, utt2lang, optional segments), which asr.sh stage 1 validates
# and turns into lhotse manifests. The template handles `--data kaldi` (copy from $KALDI_DATA in
# db.sh); replace or extend this file for any other source (see local/README.md).
# Usage: local/data.sh --data kaldi --langs "bn" [--data_dir data] [--sets "train dev test"]
set -euo pipefail

data=kaldi          # data source: only kaldi is handled by the template
langs=""            # languages; with one language, a missing utt2lang is filled with it
data_dir=data       # output root
sets="train dev test"  # set names to copy (sub-directories of $KALDI_DATA)
. utils/log.sh
. utils/parse_options.sh
. ./db.sh

[ "${data}" = kaldi ] || die "--data ${data} is not prepared by this recipe's local/data.sh (edit it; see local/README.md)"
[ -n "${KALDI_DATA}" ] || die "KALDI_DATA is empty: set it in db.sh to the directory holding ${sets// /\/, }/"
read -r -a lang_list <<< "${langs}"
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
done
