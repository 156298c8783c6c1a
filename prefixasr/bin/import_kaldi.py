"""Import a Kaldi data dir (wav.scp, text, utt2spk, optional segments/utt2lang/reco2dur) as lhotse manifests.

Usage:
  python -m prefixasr.bin.import_kaldi --data-dir /corpora/mucs/hi/train --language hi \
      --split train --output-dir data/manifests

Writes <output-dir>/<split>_recordings.jsonl.gz and <split>_supervisions.jsonl.gz (text normalised).
Unreadable audio is skipped and reported with a count; a malformed file stops with `file:line: reason`
(exit 1). Exit 1 too when nothing usable remains.
"""
from __future__ import annotations

import argparse
import logging
import sys

from prefixasr.common import setup_logging
from prefixasr.data.importers import ImportError_, import_kaldi, relabel, write_split


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("input")
    g.add_argument("--data-dir", required=True, help="Kaldi data dir holding wav.scp, text, utt2spk")
    g.add_argument("--language", default=None,
                   help="ISO code for every utterance; required when the dir has no utt2lang")
    g = p.add_argument_group("output")
    g.add_argument("--split", required=True, help="split name used in the manifest file names (train, dev, test...)")
    g.add_argument("--output-dir", required=True, help="manifest dir to write into")
    g.add_argument("--no-normalize", action="store_true", help="keep the text exactly as given")
    g.add_argument("--log-level", default="INFO", help="logging level")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        imported = relabel(import_kaldi(args.data_dir, args.language), {}, normalize=not args.no_normalize)
    except ImportError_ as e:
        logging.error("%s", e)
        return 1
    return write_split(imported, args.output_dir, args.split)


if __name__ == "__main__":
    sys.exit(main())
