"""Import a local copy of FLEURS (Indic languages) through lhotse's recipe as our manifests.

Usage:
  python -m prefixasr.bin.import_fleurs --corpus-dir /corpora/fleurs \
      --languages hi_in ta_in bn_in --output-dir data/manifests --work-dir data/fleurs_lhotse

Expects lhotse's FLEURS layout: <corpus-dir>/<lang>/{train,dev,test}/*.wav and
<corpus-dir>/metadata/<lang>/{train,dev,test}.tsv. Languages are FLEURS codes (as_in bn_in gu_in hi_in
kn_in ml_in mr_in ne_np or_in pa_in ta_in te_in ur_pk) and become ISO codes (hi) in the manifests.
All languages are merged into <output-dir>/{train,dev,test}_{recordings,supervisions}.jsonl.gz.
"""
from __future__ import annotations

import argparse
import logging
import sys

from prefixasr.common import setup_logging
from prefixasr.data.importers import Imported, combine, relabel, write_split

INDIC_FLEURS = ["as_in", "bn_in", "gu_in", "hi_in", "kn_in", "ml_in", "mr_in", "ne_np", "or_in", "pa_in", "ta_in",
                "te_in", "ur_pk"]


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("input")
    g.add_argument("--corpus-dir", required=True, help="root of the local FLEURS copy")
    g.add_argument("--languages", nargs="+", default=INDIC_FLEURS, help="FLEURS language codes to import")
    g = p.add_argument_group("output")
    g.add_argument("--output-dir", required=True, help="manifest dir for the merged train/dev/test manifests")
    g.add_argument("--work-dir", required=True, help="where lhotse's per-language manifests are written")
    g.add_argument("--num-jobs", type=int, default=1, help="parallel audio scans")
    g.add_argument("--log-level", default="INFO", help="logging level")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    from lhotse.recipes import prepare_fleurs

    try:
        manifests = prepare_fleurs(args.corpus_dir, args.work_dir, languages=list(args.languages), num_jobs=args.num_jobs)
    except (AssertionError, FileNotFoundError, ValueError) as e:
        logging.error("FLEURS at %s: %s", args.corpus_dir, e)
        return 1
    missing = [l for l in args.languages if l not in manifests]
    if missing:
        logging.error("FLEURS language(s) %s not found under %s", missing, args.corpus_dir)
        return 1
    lang_map = {code: code.split("_")[0] for code in args.languages}
    status = 0
    for split in ("train", "dev", "test"):
        parts = [relabel(Imported(m[split]["recordings"], m[split]["supervisions"]), lang_map)
                 for m in manifests.values()]
        status |= write_split(combine(parts), args.output_dir, split)
    return status


if __name__ == "__main__":
    sys.exit(main())
