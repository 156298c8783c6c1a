"""Import a local copy of Common Voice (Indic languages named explicitly) through lhotse's recipe.

Usage:
  python -m prefixasr.bin.import_commonvoice --corpus-dir /corpora/cv-corpus-20.0 \
      --languages hi ta bn --output-dir data/manifests --work-dir data/cv_lhotse

Expects <corpus-dir>/<lang>/{train,dev,test}.tsv and <corpus-dir>/<lang>/clips/. Languages must be
named (lhotse's automatic discovery skips most Indic ones). All languages are merged into
<output-dir>/{train,dev,test}_{recordings,supervisions}.jsonl.gz with normalised text.
"""
from __future__ import annotations

import argparse
import logging
import sys

from prefixasr.common import setup_logging
from prefixasr.data.importers import Imported, combine, relabel, write_split


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("input")
    g.add_argument("--corpus-dir", required=True, help="root of the local Common Voice copy")
    g.add_argument("--languages", nargs="+", required=True, help="Common Voice language codes (e.g. hi ta bn pa-IN)")
    g.add_argument("--splits", nargs="+", default=["train", "dev", "test"], help="Common Voice .tsv parts to import")
    g = p.add_argument_group("output")
    g.add_argument("--output-dir", required=True, help="manifest dir for the merged manifests")
    g.add_argument("--work-dir", required=True, help="where lhotse's per-language manifests are written")
    g.add_argument("--num-jobs", type=int, default=1, help="parallel audio scans")
    g.add_argument("--log-level", default="INFO", help="logging level")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    from lhotse.recipes import prepare_commonvoice

    for lang in args.languages:
        for split in args.splits:
            tsv = f"{args.corpus_dir}/{lang}/{split}.tsv"
            try:
                open(tsv).close()
            except OSError:
                logging.error("%s: not found (Common Voice layout <corpus>/<lang>/<split>.tsv)", tsv)
                return 1
    manifests = prepare_commonvoice(args.corpus_dir, args.work_dir, languages=list(args.languages),
                                    splits=list(args.splits), num_jobs=args.num_jobs)
    # Common Voice uses "pa-IN" style codes; our ISO code is the part before the region.
    lang_map = {code: code.split("-")[0].split("_")[0] for code in args.languages}
    status = 0
    for split in args.splits:
        parts = [relabel(Imported(m[split]["recordings"], m[split]["supervisions"]), lang_map)
                 for m in manifests.values()]
        status |= write_split(combine(parts), args.output_dir, split)
    return status


if __name__ == "__main__":
    sys.exit(main())
