"""Make cuts from a split's manifests: supervision-level (filtered) and/or whole long recordings.

Usage:
  python -m prefixasr.bin.make_cuts --manifest-dir data/manifests --split train --output-dir data/cuts \
      --min-duration 1.0 --max-duration 20.0
  python -m prefixasr.bin.make_cuts --manifest-dir data/manifests --split test --output-dir data/cuts --long

Writes <output-dir>/<split>_cuts.jsonl.gz (one cut per supervision) and, with --long,
<output-dir>/<split>_long_cuts.jsonl.gz (one cut per recording with all its supervisions).
Every dropped cut is logged with its reason, and the counts are summarised (cuts a model cannot learn
from, e.g. with more tokens than prefix frames, are the trainer's to drop). Exit 1 when no cut remains.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from prefixasr.common import setup_logging
from prefixasr.data.manifests import load_manifests
from prefixasr.data.segment import filter_cuts, long_cuts, segment_cuts


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("input/output")
    g.add_argument("--manifest-dir", required=True, help="dir with <split>_recordings/_supervisions.jsonl.gz")
    g.add_argument("--split", required=True, help="split to process")
    g.add_argument("--output-dir", required=True, help="where the cut manifests are written")
    g.add_argument("--long", action="store_true", help="also write whole-recording cuts (long-form test)")
    g = p.add_argument_group("filters (segment cuts only)")
    g.add_argument("--min-duration", type=float, default=1.0, help="drop cuts shorter than this (seconds)")
    g.add_argument("--max-duration", type=float, default=20.0, help="drop cuts longer than this (seconds)")
    g.add_argument("--log-level", default="INFO", help="logging level")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        recs, sups = load_manifests(args.manifest_dir, args.split)
    except FileNotFoundError as e:
        logging.error("%s", e)
        return 1
    out = Path(args.output_dir)
    cuts, _ = filter_cuts(segment_cuts(recs, sups), args.min_duration, args.max_duration)
    if len(cuts) == 0:
        logging.error("%s: no cut left after filtering", args.split)
        return 1
    _save(cuts, out / f"{args.split}_cuts.jsonl.gz")
    if args.long:
        _save(long_cuts(recs, sups), out / f"{args.split}_long_cuts.jsonl.gz")
    return 0


def _save(cuts, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp.{path.name}")
    cuts.to_file(tmp)
    tmp.replace(path)
    logging.info("wrote %d cuts to %s", len(cuts), path)


if __name__ == "__main__":
    sys.exit(main())
