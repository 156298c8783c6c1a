#!/usr/bin/env python3
"""Write a system's decode settings into its trained experiment: the `decode:` block of <exp-dir>/config.yaml
(what decode, pack and transcribe use unless told otherwise) from a system config and decode.* overrides, and
the n-gram LM it names copied in.

Training never reads these settings, so the recipe writes them after training (asr.sh stage 8): a decode-only
edit of a config (conf/llm/gemma3_270m.yaml's CTC weight, say) redoes decoding and packing, not training, as
ESPnet keeps its inference config apart from the training one.

Usage:
  python -m prefixasr.bin.set_decode_settings --exp-dir exp/train --config conf/train.yaml \\
      decode.ngram=exp/ngram/6gram.npz decode.ngram_weight=0.7
Exit status: 0 ok, 1 no such experiment, config or n-gram file, or an option that is not a decode setting.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from prefixasr.common import setup_logging
from prefixasr.train.config import load_config
from prefixasr.train.experiment import set_decode_settings


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=_Formatter)
    g = p.add_argument_group("input/output")
    g.add_argument("--exp-dir", type=Path, required=True, help="trained experiment directory (its config.yaml)")
    g.add_argument("--config", type=Path, required=True,
                   help="the system config it was trained from (its decode: block and its includes')")
    g.add_argument("overrides", nargs="*", default=[], help="decode.key=value settings over the config's")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging()
    others = [o for o in args.overrides if not o.startswith("decode.")]
    if others:
        raise ValueError(f"{' '.join(others)}: only decode.* settings here (training options go to prefixasr.bin.train)")
    decode = load_config(args.config, args.overrides)["decode"]
    changes = set_decode_settings(args.exp_dir, decode)
    logging.info("%s: decode settings %s", args.exp_dir / "config.yaml",
                 "unchanged" if not changes else "now " + "; ".join(changes))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (FileNotFoundError, ValueError) as err:
        logging.error("%s", err)
        sys.exit(1)
