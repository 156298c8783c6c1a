"""Write a recipe's language map and LM text from its training manifests (sources other than synthetic).

Usage:
    python -m prefixasr.bin.prepare_lang --manifest-dir data/manifests --train-split train \
        --output-dir data/lang [--extra-text my_corpus.txt]

Writes <output-dir>/lang2id.json (every language seen in any split, sorted, so indices are stable)
and <output-dir>/lm_text.txt (normalised training transcripts plus any --extra-text lines, which must
already be one sentence a line in a language's script). Dev/test transcripts are never used as LM text.
An existing lang2id.json is kept when it already covers every language (so models stay compatible).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from prefixasr.common import atomic_write, setup_logging
from prefixasr.data.lang import LanguageMap
from prefixasr.data.manifests import load_manifests


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    io = parser.add_argument_group("input/output")
    io.add_argument("--manifest-dir", required=True, help="dir with <split>_{recordings,supervisions}.jsonl.gz")
    io.add_argument("--train-split", default="train", help="split whose transcripts become LM text (default: train)")
    io.add_argument("--splits", nargs="+", default=["train", "dev", "test"],
                    help="splits whose languages enter the map (default: train dev test)")
    io.add_argument("--extra-text", nargs="*", default=[], help="more LM text files, one sentence a line (default: none)")
    io.add_argument("--output-dir", required=True, help="where lang2id.json and lm_text.txt go")
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    return parser


def main() -> int:
    args = get_parser().parse_args()
    setup_logging(args.log_level)
    manifest_dir, out = Path(args.manifest_dir), Path(args.output_dir)
    languages: set[str] = set()
    lm_lines: list[str] = []
    for split in args.splits:
        try:
            _, sups = load_manifests(manifest_dir, split)
        except FileNotFoundError as e:
            if split == args.train_split:
                logging.error("%s", e)
                return 1
            logging.warning("%s; its languages are not added", e)
            continue
        missing = [s.id for s in sups if not s.language]
        if missing:
            logging.error("%s: supervision %s has no language", manifest_dir / f"{split}_supervisions.jsonl.gz", missing[0])
            return 1
        languages.update(s.language for s in sups)
        if split == args.train_split:
            lm_lines.extend(s.text for s in sups if s.text)
    for path in args.extra_text:
        with open(path, encoding="utf-8") as f:
            lm_lines.extend(line.strip() for line in f if line.strip())

    map_path = out / "lang2id.json"
    if map_path.is_file() and languages <= set(LanguageMap.load(map_path).languages):
        logging.info("keeping %s: it covers %s", map_path, sorted(languages))
    else:
        LanguageMap.from_languages(languages).save(map_path)
        logging.info("wrote %s: %s", map_path, sorted(languages))
    with atomic_write(out / "lm_text.txt") as f:
        f.writelines(line + "\n" for line in lm_lines)
    logging.info("wrote %s: %d lines", out / "lm_text.txt", len(lm_lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
