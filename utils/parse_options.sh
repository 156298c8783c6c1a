#!/usr/bin/env bash
# Kaldi/ESPnet-style option parser. Source it *after* declaring every option as a
# shell variable with its default, and *before* reading positional arguments:
#
#   stage=0          # first stage to run
#   use_gpu=false    # a boolean: only true|false are accepted
#   . utils/parse_options.sh
#   [ $# -eq 1 ] || { echo "$help_message"; exit 1; }
#
# Rules (the ones Kaldi and ESPnet users expect):
# - `--foo-bar V`, `--foo_bar V` and `--foo-bar=V` all set the variable foo_bar;
#   an option exists exactly when its variable is set before this file is sourced.
# - `--config FILE` (repeatable, anywhere before the positional arguments) is sourced
#   first, so the command line overrides it.
# - A variable whose default is true/false only takes true/false.
# - `--help`/`-h` prints $help_message (if set), then every option with its current
#   value and the comment from its declaration line, read from the calling script
#   itself so the help can never drift from the defaults; a "# ---- title" line heads
#   a group. Exit status 0.
# - Parsing stops at the first argument not starting with `--`, or after `--`.
# - Unknown options and missing values are errors (exit 1) naming the script.
# Remaining arguments are left in "$@" (this file shifts the caller's arguments).

_po_script=${0##*/}

_po_die() {
  echo "${_po_script}: $*" >&2
  exit 1
}

# Print the options declared in the calling script before it sources this file.
_po_print_options() {
  # Locals carry the _po_ prefix so that ${!name} never resolves to one of them.
  local _po_line _po_var _po_comment _po_file=$0
  [ -f "${_po_file}" ] || _po_file=$(basename "$0")  # a recipe script cds to its own directory before parsing
  [ -f "${_po_file}" ] || return 0
  echo "Options (default or current value, then description):"
  while IFS= read -r _po_line; do
    case "${_po_line}" in
      *parse_options.sh*) break ;;
    esac
    # "# ---- title" lines head a group of options.
    if [[ "${_po_line}" =~ ^#\ ----\ (.*)$ ]]; then
      echo "  [${BASH_REMATCH[1]}]"
      continue
    fi
    # Only top-level `name=value` lines are options; indented or local ones are not.
    if [[ "${_po_line}" =~ ^([A-Za-z_][A-Za-z0-9_]*)= ]]; then
      _po_var=${BASH_REMATCH[1]}
      [ "${_po_var}" = help_message ] && continue
      [[ "${_po_var}" == _* ]] && continue
      _po_comment=""
      [[ "${_po_line}" =~ [[:space:]]#[[:space:]]?(.*)$ ]] && _po_comment=${BASH_REMATCH[1]}
      printf '  --%-24s %-22s %s\n' "${_po_var}" "(${!_po_var-})" "${_po_comment}"
    fi
  done < "${_po_file}"
}

# Pass 1: source --config files first so that explicit options override them.
_po_args=("$@")
for ((_po_i = 0; _po_i < ${#_po_args[@]}; _po_i++)); do
  _po_a=${_po_args[_po_i]}
  case "${_po_a}" in
    --) break ;;
    --config=*) _po_cfg=${_po_a#--config=} ;;
    --config)
      [ $((_po_i + 1)) -lt ${#_po_args[@]} ] || _po_die "option --config requires a file name"
      _po_i=$((_po_i + 1)); _po_cfg=${_po_args[_po_i]} ;;
    --*=*) continue ;;
    --*) _po_i=$((_po_i + 1)); continue ;;  # skip this option's value
    *) break ;;
  esac
  [ -f "${_po_cfg}" ] || _po_die "config file '${_po_cfg}' given by --config does not exist"
  # shellcheck disable=SC1090
  . "${_po_cfg}"
done

# Pass 2: the options themselves.
while [ $# -gt 0 ]; do
  case "$1" in
    --help | -h)
      [ -n "${help_message-}" ] && printf '%s\n\n' "${help_message}"
      _po_print_options
      exit 0 ;;
    --) shift; break ;;
    --config=*) shift; continue ;;
    --config) shift 2; continue ;;
    --*=*)
      _po_opt=${1%%=*}; _po_val=${1#*=}; shift ;;
    --*)
      _po_opt=$1
      [ $# -ge 2 ] || _po_die "option ${_po_opt} requires a value"
      _po_val=$2; shift 2 ;;
    *) break ;;
  esac
  _po_name=${_po_opt#--}
  _po_name=${_po_name//-/_}
  [[ "${_po_name}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || _po_die "invalid option ${_po_opt}"
  # An option exists only when the script declared its variable (as in Kaldi).
  [ -n "${!_po_name+set}" ] || _po_die "invalid option ${_po_opt} (run '${_po_script} --help' for the list)"
  case "${!_po_name}" in
    true | false)
      case "${_po_val}" in
        true | false) ;;
        *) _po_die "option ${_po_opt} is a boolean: expected true or false, got '${_po_val}'" ;;
      esac ;;
  esac
  printf -v "${_po_name}" '%s' "${_po_val}"
done

unset _po_args _po_a _po_i _po_cfg _po_opt _po_val _po_name
true  # a sourced file's status is its last command's: never leave a failed test behind
