#!/usr/bin/env python3
"""Keep a share of one language's cuts (a low-resource setting), every other language's as they are.

Usage:
    python -m prefixasr.bin.subset_cuts --cuts data/fbank/train_cuts.jsonl.gz --language hi --fraction 0.1 \\
        --output data/fbank/train_hi0.1_cuts.jsonl.gz

The kept cuts are a seeded random choice (same seed, same subset), at least one; the counts are logged.
Exit status 1 on a missing input, a fraction outside (0, 1] or a language with no cut.
"""
from __future__ import annotations

import argparse
import logging
import random
import sys
from pathlib import Path

from prefixasr.common import setup_logging

log = logging.getLogger("subset_cuts")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cuts", type=Path, required=True, help="input cuts (features already computed)")
    p.add_argument("--language", required=True, help="the language to reduce (its supervisions' language)")
    p.add_argument("--fraction", type=float, required=True, help="share of that language's cuts to keep, in (0, 1]")
    p.add_argument("--output", type=Path, required=True, help="output cuts (.jsonl.gz)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the choice")
    p.add_argument("--log-level", default="INFO", help="logging level")
    return p


def main(argv: list[str] | None = None) -> int:
    from lhotse import CutSet, load_manifest_lazy

    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    if not args.cuts.is_file():
        log.error("--cuts %s does not exist", args.cuts)
        return 1
    if not 0.0 < args.fraction <= 1.0:
        log.error("--fraction must be within (0, 1], got %s", args.fraction)
        return 1
    cuts = list(load_manifest_lazy(args.cuts))
    ids = sorted(c.id for c in cuts if c.supervisions and c.supervisions[0].language == args.language)
    if not ids:
        log.error("%s: no cut of language %r", args.cuts, args.language)
        return 1
    random.Random(args.seed).shuffle(ids)
    keep = set(ids[: max(1, round(args.fraction * len(ids)))])
    out = [c for c in cuts if not (c.supervisions and c.supervisions[0].language == args.language) or c.id in keep]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp.jsonl.gz")
    CutSet.from_cuts(out).to_file(tmp)
    tmp.replace(args.output)  # readers never see half a manifest
    log.info("%s: kept %d of %d %s cuts (%.0f%%), %d cuts in all -> %s", args.cuts, len(keep), len(ids),
             args.language, 100.0 * len(keep) / len(ids), len(out), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
