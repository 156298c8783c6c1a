#!/usr/bin/env bash
# Thin wrapper: collect every scored decode dir under an experiment tree into RESULTS.md.
# Usage: utils/show_results.sh [--baseline SYSTEM] <exp-root> [<RESULTS.md>]
set -euo pipefail
baseline=()
if [ "${1:-}" = "--baseline" ]; then baseline=(--baseline "$2"); shift 2; fi
if [ $# -lt 1 ]; then echo "Usage: $0 [--baseline SYSTEM] <exp-root> [<RESULTS.md>]" >&2; exit 1; fi
exec python -m prefixasr.bin.show_results --exp-root "$1" --output "${2:-RESULTS.md}" "${baseline[@]}"
