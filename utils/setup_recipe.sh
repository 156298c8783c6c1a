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
mkdir -p "${dest}/conf" "${dest}/local"
cp -rn "${template}/conf/." "${dest}/conf/"
cp -rn "${template}/local/." "${dest}/local/"
if [ -n "${conf_from}" ]; then
  find "${conf_from}/conf" -maxdepth 1 -name '*.yaml' -exec cp -n {} "${dest}/conf/" \;
fi

log "created recipe ${dest} (stages shared through asr.sh -> $(readlink "${dest}/asr.sh"))"
cat <<MSG
Next steps:
  1. cd ${dest}; set the languages and sets in run.sh
  2. make local/data.sh prepare your data (see local/README.md), corpus paths in db.sh
  3. put the system configs in conf/ (train.yaml, lm.yaml)
  4. ./run.sh --stage 0 --stop_stage 1   # data + validation first, then the rest
MSG
