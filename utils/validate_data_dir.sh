#!/usr/bin/env bash
# Check a Kaldi data directory (text, wav.scp, utt2spk, spk2utt, optional segments, utt2lang,
# utt2dur, reco2dur, feats.scp) before anything is trained on it. Every problem is reported as
# "<file>:<line>: <what>" (at most 10 per kind), then a count; nothing is modified.
#
# Usage: utils/validate_data_dir.sh [options] <data-dir>
#   e.g. utils/validate_data_dir.sh --need-lang true data/train
set -euo pipefail

no_text=false      # true: the directory need not have a text file
no_wav=false       # true: the directory need not have wav.scp (e.g. features only)
need_lang=false    # true: utt2lang is required (every recipe of ours needs it for the soft prompts)
check_audio=true   # true: audio files named in wav.scp must exist (piped commands are not run)
help_message="Usage: $0 [options] <data-dir>
Checks keys (sorted in C order, unique, the same utterances in every per-utterance file),
speaker maps, segment times, durations and UTF-8; exits 1 naming file:line of each problem."
. "$(dirname "$0")/parse_options.sh"

if [ $# -ne 1 ]; then
  echo "${help_message}" >&2
  exit 1
fi
data=${1%/}
prog=${0##*/}
[ -d "${data}" ] || { echo "${prog}: ${data} is not a directory" >&2; exit 1; }

export LC_ALL=C
errors=0
tmp=$(mktemp -d)
trap 'rm -rf "${tmp}"' EXIT

err() {  # err MESSAGE: one problem
  echo "${prog}: $*" >&2
  errors=$((errors + 1))
}

# Report problems printed one per line by a checker, at most 10 of them, and count them all.
report() {
  local n
  n=$(wc -l < "$1")
  [ "${n}" -eq 0 ] && return 0
  head -n 10 "$1" | sed "s|^|${prog}: |" >&2
  [ "${n}" -gt 10 ] && echo "${prog}: ... $((n - 10)) more like these" >&2
  errors=$((errors + n))
}

# Generic checks on a "key value..." file: field count, duplicate and unsorted keys, UTF-8, CR.
# $2 is the minimum number of fields (text may be 1: an utterance with an empty transcript).
check_table() {
  local f=$1 min_fields=$2
  awk -v f="${f}" -v min="${min_fields}" '
    /\r/ { print f ":" NR ": carriage return (DOS line ending)"; }
    NF < min { print f ":" NR ": expected at least " min " fields, got " NF; next }
    /^[ \t]/ { print f ":" NR ": line starts with whitespace"; next }
    ($1 in seen) { print f ":" NR ": duplicate key " $1 " (first on line " seen[$1] ")"; next }
    { seen[$1] = NR }
    NR > 1 && ($1 "") < (prev "") { print f ":" NR ": key " $1 " sorts before the previous key " prev \
                           " (sort the file with LC_ALL=C sort)"; }
    { prev = $1 }' "${f}" > "${tmp}/problems"
  # GNU grep in a UTF-8 locale: -a text, -x whole line, -v lines that are NOT valid characters.
  LC_ALL=C.UTF-8 grep -naxv '.*' "${f}" | cut -d: -f1 | sed "s|^|${f}:|; s|$|: not valid UTF-8|" \
    >> "${tmp}/problems" || true
  report "${tmp}/problems"
}

# Compare the key sets of two files; $3 names what the keys are.
same_keys() {
  local a=$1 b=$2 what=$3
  cut -d' ' -f1 "${a}" | sort -u > "${tmp}/a"
  cut -d' ' -f1 "${b}" | sort -u > "${tmp}/b"
  comm -23 "${tmp}/a" "${tmp}/b" | sed "s|.*|${b} lacks ${what} & (present in ${a})|" > "${tmp}/problems"
  comm -13 "${tmp}/a" "${tmp}/b" | sed "s|.*|${b} has ${what} & that ${a} does not|" >> "${tmp}/problems"
  report "${tmp}/problems"
}

# Positive numbers in column 2 (durations, frame counts).
check_positive() {
  awk -v f="$1" '!($2 ~ /^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/ && $2 > 0) {
    print f ":" NR ": expected a positive number, got " $2 }' "$1" > "${tmp}/problems"
  report "${tmp}/problems"
}

required=(utt2spk spk2utt)
[ "${no_text}" = true ] || required+=(text)
[ "${no_wav}" = true ] || required+=(wav.scp)
[ "${need_lang}" = true ] && required+=(utt2lang)
for f in "${required[@]}"; do
  [ -f "${data}/${f}" ] || err "${data}/${f} is missing"
done
if [ ! -f "${data}/spk2utt" ] && [ -f "${data}/utt2spk" ]; then
  echo "${prog}: (make spk2utt with: awk '{a[\$2]=a[\$2]\" \"\$1} END{for(s in a) print s a[s]}'" \
    "${data}/utt2spk | LC_ALL=C sort > ${data}/spk2utt)" >&2
fi
[ -f "${data}/utt2spk" ] || { echo "${prog}: ${errors} error(s) in ${data}" >&2; exit 1; }

for f in utt2spk spk2utt utt2lang utt2dur utt2num_frames wav.scp reco2dur feats.scp cmvn.scp; do
  [ -f "${data}/${f}" ] && check_table "${data}/${f}" 2
done
[ -f "${data}/text" ] && check_table "${data}/text" 1
[ -f "${data}/segments" ] && check_table "${data}/segments" 4

# Every per-utterance file lists exactly the utterances of utt2spk.
for f in text utt2lang utt2dur utt2num_frames segments feats.scp; do
  [ -f "${data}/${f}" ] && same_keys "${data}/utt2spk" "${data}/${f}" utterance
done

# spk2utt must be utt2spk inverted.
awk '{ for (i = 2; i <= NF; i++) print $i, $1 }' "${data}/spk2utt" | sort > "${tmp}/inv"
sort "${data}/utt2spk" | awk 'NF >= 2 { print $1, $2 }' > "${tmp}/u2s"
if ! cmp -s "${tmp}/inv" "${tmp}/u2s"; then
  { diff "${tmp}/u2s" "${tmp}/inv" || true; } | awk -v a="${data}/utt2spk" -v b="${data}/spk2utt" '
    /^</ { print "utterance " $2 " of speaker " $3 " in " a " is not listed so in " b }
    /^>/ { print "utterance " $2 " of speaker " $3 " in " b " is not listed so in " a }' > "${tmp}/problems"
  report "${tmp}/problems"
fi

if [ -f "${data}/segments" ]; then
  # Times: numeric, 0 <= start < end; recordings known to wav.scp; end within reco2dur (+50 ms).
  awk -v f="${data}/segments" -v wav="${data}/wav.scp" -v dur="${data}/reco2dur" '
    BEGIN { while ((getline l < wav) > 0) { split(l, a, " "); w[a[1]] = 1; nw++ }
            while ((getline l < dur) > 0) { split(l, a, " "); d[a[1]] = a[2] } }
    NF != 4 { print f ":" NR ": expected <utt> <recording> <start> <end>, got " NF " fields"; next }
    !($3 ~ /^[0-9]*\.?[0-9]+$/ && $4 ~ /^[0-9]*\.?[0-9]+$/) { print f ":" NR ": non-numeric times " $3 " " $4; next }
    $3 + 0 >= $4 + 0 { print f ":" NR ": start " $3 " is not before end " $4 }
    nw > 0 && !($2 in w) { print f ":" NR ": recording " $2 " is not in " wav }
    ($2 in d) && $4 > d[$2] + 0.05 { print f ":" NR ": end " $4 " is past the recording length " d[$2] }
  ' "${data}/segments" > "${tmp}/problems"
  report "${tmp}/problems"
elif [ -f "${data}/wav.scp" ]; then
  same_keys "${data}/utt2spk" "${data}/wav.scp" "utterance (no segments file, so recording = utterance)"
fi

# Audio named by a plain path must exist (relative paths are relative to the current directory,
# as Kaldi reads them); "cmd |" pipes are not run.
if [ "${check_audio}" = true ] && [ -f "${data}/wav.scp" ]; then
  awk -v f="${data}/wav.scp" 'NF == 2 && $2 != "-" { print NR, $2 }' "${data}/wav.scp" |
    while read -r n path; do
      [ -e "${path}" ] || echo "${data}/wav.scp:${n}: audio file ${path} does not exist"
    done > "${tmp}/problems"
  report "${tmp}/problems"
fi

for f in utt2dur reco2dur utt2num_frames; do
  [ -f "${data}/${f}" ] && check_positive "${data}/${f}"
done

if [ "${errors}" -gt 0 ]; then
  echo "${prog}: ${errors} error(s) in ${data}" >&2
  exit 1
fi
summary="$(wc -l < "${data}/utt2spk") utterances, $(wc -l < "${data}/spk2utt") speakers"
[ -f "${data}/wav.scp" ] && summary+=", $(wc -l < "${data}/wav.scp") recordings"
[ -f "${data}/utt2lang" ] && summary+=", $(awk '{print $2}' "${data}/utt2lang" | sort -u | wc -l) languages"
echo "${prog}: ${data} is OK (${summary})"
