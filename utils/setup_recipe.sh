#!/usr/bin/env bash
# Scaffold a new recipe that SHARES the stage script instead of copying it:
#   <dir>/asr.sh -> egs/TEMPLATE/asr.sh and <dir>/utils -> utils/ (symlinks: fixes reach every recipe);
#   run.sh, cmd.sh, path.sh, db.sh, conf/, local/ are copied (they are what a recipe changes).
#
# Usage: utils/setup_recipe.sh [options] egs/<name>
#   e.g. utils/setup_recipe.sh --conf_from egs/indic egs/bengali
set -euo pipefail

template=""        # recipe to scaffold from (empty = egs/TEMPLATE of this repository)
conf_from=""       # also copy the *.yaml configs of this recipe (e.g. egs/indic)
force=false        # true: write into an existing, non-empty directory (existing files are kept)
# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [options] <new-recipe-dir>"
. "$(dirname "$0")/log.sh"
. "$(dirname "$0")/parse_options.sh"

[ $# -eq 1 ] || die "expected one argument, the new recipe directory (e.g. egs/bengali); see --help"
dest=${1%/}
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
[ -n "${template}" ] || template=${root}/egs/TEMPLATE
[ -f "${template}/asr.sh" ] || die "${template} is not a recipe (no asr.sh)"
if [ -d "${dest}" ] && [ -n "$(ls -A "${dest}")" ] && [ "${force}" != true ]; then
  die "${dest} exists and is not empty (use --force true to add the missing files)"
fi
[ -z "${conf_from}" ] || [ -d "${conf_from}/conf" ] || die "${conf_from}/conf does not exist (--conf_from)"

mkdir -p "${dest}"
name=$(basename "$(cd "${dest}" && pwd)")

# link <target> <link-name>: a relative symlink, so the checkout can move.
link() {
  local target
  target=$(readlink -f "$1")
  [ -e "${dest}/$2" ] || [ -L "${dest}/$2" ] || ln -s "$(realpath --relative-to="${dest}" "${target}")" "${dest}/$2"
}
link "${template}/asr.sh" asr.sh
link "${root}/utils" utils

# cp -n: never overwrite what the user already has (relevant with --force).
for f in run.sh cmd.sh path.sh db.sh; do
  [ -e "${dest}/${f}" ] || sed "s/RECIPE_NAME/${name}/g" "${template}/${f}" > "${dest}/${f}"
done
chmod +x "${dest}/run.sh"
# copy_config <file.yaml> <dir>: copied unless there already; its `include:` paths (relative to the file)
# rewritten to point at the same files from the copy's place.
copy_config() {
  local src=$1 out=$2/$(basename "$1") line inc list=()
  [ -e "${out}" ] && return 0
  line=$(grep -m 1 '^include: *\[' "${src}") || { cp "${src}" "${out}"; return 0; }
  line=${line#*[}
  IFS=',' read -r -a incs <<< "${line%]*}"
  for inc in "${incs[@]}"; do
    inc=$(echo "${inc}")  # trims the blanks
    [[ "${inc}" == /* ]] || inc=$(realpath -m --relative-to="$2" "$(dirname "$(readlink -f "${src}")")/${inc}")
    list+=("${inc}")
  done
  line=$(printf '%s, ' "${list[@]}")
  sed "s|^include: *\[.*\]|include: [${line%, }]|" "${src}" > "${out}"
}
mkdir -p "${dest}/conf" "${dest}/local"
# --conf_from's configs first: the template's fill in only what they lack
if [ -n "${conf_from}" ]; then
  for f in "${conf_from}"/conf/*.yaml; do copy_config "${f}" "${dest}/conf"; done
fi
for f in "${template}"/conf/*; do
  if [[ "${f}" == *.yaml ]]; then copy_config "${f}" "${dest}/conf"; else cp -rn "${f}" "${dest}/conf/"; fi
done
cp -rn "${template}/local/." "${dest}/local/"

log "created recipe ${dest} (stages shared through asr.sh -> $(readlink "${dest}/asr.sh"))"
cat <<MSG
Next steps:
  1. cd ${dest}; set the languages and sets in run.sh
  2. make local/data.sh prepare your data (see local/README.md), corpus paths in db.sh
  3. adjust the system configs in conf/ (train.yaml, pretrain.yaml, lm.yaml)
  4. ./run.sh --stage 0 --stop_stage 1   # data + validation first, then the rest
MSG
