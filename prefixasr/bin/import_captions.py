"""Import long audio with WebVTT/SRT captions (YouTube-style long-form) as lhotse manifests.

Usage:
  python -m prefixasr.bin.import_captions --audio-dir /corpora/yt/hi --language hi \
      --split test --output-dir data/manifests

Each audio file X.wav|flac|mp3|... needs a caption file beside it: X.vtt, X.srt or X.<lang>.vtt (the
<lang> in the name overrides --language). Every cue becomes a supervision on the long recording.
Empty or out-of-range cues and audio without captions are skipped, each reported with a reason and
counted; a malformed cue timing stops with `file:line: reason` (exit 1).
"""
from __future__ import annotations

import argparse
import logging
import sys

from prefixasr.common import setup_logging
from prefixasr.data.importers import ImportError_, import_captions, relabel, write_split


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("input")
    g.add_argument("--audio-dir", required=True, help="directory searched recursively for audio + caption pairs")
    g.add_argument("--language", default=None, help="ISO code used when a caption name carries none")
    g = p.add_argument_group("output")
    g.add_argument("--split", required=True, help="split name used in the manifest file names")
    g.add_argument("--output-dir", required=True, help="manifest dir to write into")
    g.add_argument("--no-normalize", action="store_true", help="keep caption text exactly as given")
    g.add_argument("--log-level", default="INFO", help="logging level")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        imported = relabel(import_captions(args.audio_dir, args.language), {}, normalize=not args.no_normalize)
    except ImportError_ as e:
        logging.error("%s", e)
        return 1
    return write_split(imported, args.output_dir, args.split)


if __name__ == "__main__":
    sys.exit(main())
