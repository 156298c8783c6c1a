#!/usr/bin/env bash
# Thin wrapper: collect every scored decode dir under an experiment tree into RESULTS.md.
# Usage: utils/show_results.sh [--python PY] [--baseline SYSTEM] <exp-root> [<RESULTS.md>]
#   (run from a recipe dir, python3 is the recipe's after `. ./path.sh`)
set -euo pipefail
python=python3
baseline=()
while [ $# -gt 0 ]; do
  case "$1" in
    --python) python=$2; shift 2 ;;
    --baseline) baseline=(--baseline "$2"); shift 2 ;;
    *) break ;;
  esac
done
if [ $# -lt 1 ]; then echo "Usage: $0 [--python PY] [--baseline SYSTEM] <exp-root> [<RESULTS.md>]" >&2; exit 1; fi
exec "${python}" -m prefixasr.bin.show_results --exp-root "$1" --output "${2:-RESULTS.md}" "${baseline[@]}"
