#!/usr/bin/env bash
# Logging helpers for recipes; source it:  . utils/log.sh
# log MSG...   -> stderr: "2026-11-02 10:00:00 INFO [run.sh:42] MSG" (the Python tools' format,
#                 so shell and Python lines interleave readably in one log)
# warn MSG...  -> the same at WARNING level
# die MSG...   -> ERROR line naming the caller's file:line, then exit 1

_log_line() {
  # $1: level; $2: call depth of the user's line; rest: message
  local level=$1 depth=$2
  shift 2
  local file=${BASH_SOURCE[depth + 1]:-$0}
  printf '%s %s [%s:%s] %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "${level}" \
    "${file##*/}" "${BASH_LINENO[depth]}" "$*" >&2
}

log() { _log_line INFO 1 "$@"; }
warn() { _log_line WARNING 1 "$@"; }
die() {
  _log_line ERROR 1 "$@"
  exit 1
}
