#!/usr/bin/env bash
# Stage 0 of the Indic recipe: lhotse manifests for train/dev/test in ${data_dir}/manifests, the
# language map ${data_dir}/lang/lang2id.json and LM text ${data_dir}/lang/lm_text.txt, from one source:
#   synthetic    the embedded synthetic long-form corpus (Debian catalog text + espeak-ng); no corpus needed
#   fleurs       a local FLEURS copy ($FLEURS in db.sh)
#   commonvoice  a local Common Voice release ($COMMONVOICE)
#   kaldi        Kaldi data dirs $KALDI_DATA/{train,dev,test} (wav.scp, text, utt2spk, utt2lang or one --langs)
#   captions     long audio with .vtt/.srt captions in $CAPTIONS/{train,dev,test}
# Usage: local/data.sh --data synthetic --langs "hi ta" [--data_dir data] [--preset mini] [--nj 2]
set -euo pipefail

data=synthetic          # synthetic | fleurs | commonvoice | kaldi | captions
langs="bn gu hi kn ml mr or pa ta te"  # ISO 639-1 codes
data_dir=data           # output root
preset=mini             # synthetic only: mini (CPU demo) | full (hours per language)
seed=42                 # synthetic only: same seed, same corpus
noise_snr=""            # synthetic only: background noise SNR in dB (empty: clean)
code_switch_prob=0.0    # synthetic only: share of utterances ending in an English phrase
train_utts=""           # synthetic only: train utterances per language (empty: the preset's)
dev_utts=""             # synthetic only: dev utterances per language (empty: the preset's)
test_utts=""            # synthetic only: test utterances per language (empty: the preset's)
train_rec_seconds=""    # synthetic only: MIN,MAX seconds of a train recording, one speaker each (empty: the preset's)
unseen_utts=20          # synthetic only: test_unseen utterances per language (other text source, other voices; 0 = none)
cs_utts=20              # synthetic only: test_cs utterances per language (test sentences + an English phrase; 0 = none)
download_dir=downloads  # synthetic only: cache of the Debian packages and harvested text
text_dir=""             # synthetic only: use <text_dir>/<lang>.txt sentences instead of harvesting
nj=2                    # parallel jobs
python=python3          # interpreter
. utils/log.sh
. utils/parse_options.sh
. ./db.sh

manifests=${data_dir}/manifests
read -r -a lang_list <<< "${langs}"
need() { [ -n "$2" ] || die "--data ${data} needs $1 set in db.sh (or the environment)"; }

case "${data}" in
  synthetic)
    opts=()
    [ -n "${noise_snr}" ] && opts+=(--noise-snr "${noise_snr}")
    [ -n "${train_utts}" ] && opts+=(--train-utts "${train_utts}")
    [ -n "${dev_utts}" ] && opts+=(--dev-utts "${dev_utts}")
    [ -n "${test_utts}" ] && opts+=(--test-utts "${test_utts}")
    if [ -n "${train_rec_seconds}" ]; then
      [[ "${train_rec_seconds}" == *,* ]] || die "--train_rec_seconds takes MIN,MAX (e.g. 10,20), got '${train_rec_seconds}'"
      opts+=(--train-rec-seconds "${train_rec_seconds%,*}" "${train_rec_seconds#*,}")
    fi
    [ -n "${text_dir}" ] && opts+=(--text-dir "${text_dir}")
    ${python} -m prefixasr.bin.prepare_synthetic --preset "${preset}" --languages "${lang_list[@]}" \
      --seed "${seed}" --output-dir "${data_dir}" --download-dir "${download_dir}" --num-jobs "${nj}" \
      --code-switch-prob "${code_switch_prob}" --unseen-utts "${unseen_utts}" \
      --cs-utts "${cs_utts}" "${opts[@]}"
    ;;  # it also writes lang2id.json and an LM text free of dev/test sentences
  fleurs)
    need FLEURS "${FLEURS}"
    codes=()
    for l in "${lang_list[@]}"; do case "${l}" in ne) codes+=(ne_np) ;; ur) codes+=(ur_pk) ;; *) codes+=("${l}_in") ;; esac; done
    ${python} -m prefixasr.bin.import_fleurs --corpus-dir "${FLEURS}" --languages "${codes[@]}" \
      --output-dir "${manifests}" --work-dir "${data_dir}/fleurs_lhotse" --num-jobs "${nj}" ;;
  commonvoice)
    need COMMONVOICE "${COMMONVOICE}"
    ${python} -m prefixasr.bin.import_commonvoice --corpus-dir "${COMMONVOICE}" --languages "${lang_list[@]}" \
      --output-dir "${manifests}" --work-dir "${data_dir}/cv_lhotse" --num-jobs "${nj}" ;;
  kaldi|captions)
    root=${KALDI_DATA}
    [ "${data}" = captions ] && root=${CAPTIONS}
    need "$( [ "${data}" = kaldi ] && echo KALDI_DATA || echo CAPTIONS )" "${root}"
    lang_opt=()
    [ "${#lang_list[@]}" -eq 1 ] && lang_opt=(--language "${lang_list[0]}")
    for split in train dev test; do
      [ -d "${root}/${split}" ] || die "${root}/${split} does not exist (expected train/ dev/ test/ under ${root})"
      if [ "${data}" = kaldi ]; then
        ${python} -m prefixasr.bin.import_kaldi --data-dir "${root}/${split}" "${lang_opt[@]}" \
          --split "${split}" --output-dir "${manifests}"
      else
        ${python} -m prefixasr.bin.import_captions --audio-dir "${root}/${split}" "${lang_opt[@]}" \
          --split "${split}" --output-dir "${manifests}"
      fi
    done ;;
  *) die "unknown --data ${data}: synthetic, fleurs, commonvoice, kaldi or captions" ;;
esac
# Stage 1 (asr.sh) writes lang2id.json and lm_text.txt from the train manifests when they are missing.
