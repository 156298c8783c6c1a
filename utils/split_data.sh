#!/usr/bin/env bash
# Kaldi-style wrapper of prefixasr.bin.split_data (the Python tool does the work and the checks).
# Usage: utils/split_data.sh [--per-utt|--per-lang] <data-dir> [<num-to-split>]
#   utils/split_data.sh data/train 4            -> data/train/split4/{1..4}     (speakers kept whole)
#   utils/split_data.sh --per-utt data/test 8   -> data/test/split8utt/{1..8}
#   utils/split_data.sh --per-lang data/test    -> data/test/split_lang/<lang>  (from utt2lang)
# Uses ${PYTHON:-python3}; run it after sourcing path.sh so prefixasr is importable.
set -euo pipefail

by=speaker
case "${1-}" in
  --per-utt) by=utterance; shift ;;
  --per-lang) by=language; shift ;;
  --per-spk) shift ;;
esac
if [ $# -lt 1 ] || [ $# -gt 2 ] || { [ "${by}" != language ] && [ $# -ne 2 ]; }; then
  sed -n '3,6s/^# \{0,1\}//p' "$0" >&2
  exit 1
fi
exec "${PYTHON:-python3}" -m prefixasr.bin.split_data --by "${by}" "$@"
