#!/usr/bin/env bash
# Install the Debian packages prefixasr uses when they are missing:
#   espeak-ng  speech synthesis for the embedded synthetic corpus
#   sox        audio conversion/measurement
#   sctk       NIST sclite, the reference scorer (run as `sctk sclite`)
#
# Usage: tools/installers/install_system_deps.sh
# Nothing is done when all are present; otherwise apt-get is used (root, or sudo without a password).
set -euo pipefail

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) $*" >&2; }

missing=()
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v sox >/dev/null || missing+=(sox)
command -v sctk >/dev/null || missing+=(sctk)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  log "ERROR: missing ${missing[*]} and this is not a Debian-like system (no apt-get);"
  log "       install them with your package manager (sctk provides sclite)."
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    log "ERROR: missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}"
    exit 1
  fi
fi
log "installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
${sudo} apt-get update -qq >/dev/null
${sudo} apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
log "installed ${missing[*]}"
