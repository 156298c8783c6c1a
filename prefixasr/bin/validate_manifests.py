"""Validate lhotse manifests: report every bad item with a one-line reason and count them by kind.

Usage:
  python -m prefixasr.bin.validate_manifests --manifest-dir data/manifests --splits train dev test \
      --lang-map data/lang/lang2id.json --output-dir data/manifests_valid

Reads <manifest-dir>/<split>_{recordings,supervisions}.jsonl.gz. With --output-dir, writes the usable
part under the same names there. Exit status: 0 when every split keeps usable items (problems are
warnings), 1 when a split has nothing usable left, or with --strict when any problem was found.
"""
from __future__ import annotations

import argparse
import logging
import sys

from prefixasr.common import setup_logging
from prefixasr.data.lang import LanguageMap
from prefixasr.data.manifests import load_manifests, save_manifests
from prefixasr.data.validate import validate


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("input")
    g.add_argument("--manifest-dir", required=True, help="dir with <split>_recordings/_supervisions.jsonl.gz")
    g.add_argument("--splits", nargs="+", default=["train", "dev", "test"], help="splits to validate")
    g.add_argument("--lang-map", default=None, help="lang2id.json: languages outside it are errors")
    g.add_argument("--languages", nargs="+", default=None, help="allowed languages (instead of --lang-map)")
    g.add_argument("--sample-rate", type=int, default=16000, help="expected sampling rate (0: any)")
    g.add_argument("--skip-audio-check", action="store_true", help="do not open audio files (faster)")
    g = p.add_argument_group("output")
    g.add_argument("--output-dir", default=None, help="write the usable manifests here")
    g.add_argument("--strict", action="store_true", help="exit 1 when any problem is found")
    g.add_argument("--log-level", default="INFO", help="logging level")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    langs = LanguageMap.load(args.lang_map).languages if args.lang_map else args.languages
    status, total = 0, 0
    for split in args.splits:
        try:
            recs, sups = load_manifests(args.manifest_dir, split)
        except FileNotFoundError as e:
            logging.error("%s", e)
            return 1
        report = validate(recs, sups, langs, args.sample_rate or None, check_audio=not args.skip_audio_check)
        for msg in report.problems:
            logging.warning("%s: %s", split, msg)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report.kinds.items())) or "none"
        logging.info("%s: %d/%d supervisions usable, %d/%d recordings; problems: %s", split,
                     len(report.supervisions), len(sups), len(report.recordings), len(recs), counts)
        total += len(report.problems)
        if len(report.supervisions) == 0:
            logging.error("%s: nothing usable remains", split)
            status = 1
        elif args.output_dir:
            save_manifests(report.recordings, report.supervisions, args.output_dir, split)
    if args.strict and total:
        logging.error("--strict: %d problem(s) found", total)
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
