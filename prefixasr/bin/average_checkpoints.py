#!/usr/bin/env python3
"""Average the model weights of the last `--avg` epochs ending at `--epoch` into one checkpoint.

Usage:
    python -m prefixasr.bin.average_checkpoints --exp-dir exp/mini_frozen_langid_rnnt --epoch 30 --avg 5

Writes <exp-dir>/avg-<first>-<last>.pt (or --out) holding {"model": state_dict, "averaged": [...]}.
Decoding and packing (load_model(exp_dir, epoch, avg)) load that file when it is newer than the epochs it
averages, and average on the fly otherwise.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from prefixasr.checkpoints import averaged_path, find_checkpoints, read_state_dict
from prefixasr.common import atomic_save_torch, setup_logging


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=_Formatter)
    g = p.add_argument_group("checkpoints")
    g.add_argument("--exp-dir", type=Path, required=True, help="experiment directory with epoch-N.pt files")
    g.add_argument("--epoch", type=int, default=None, help="last epoch to average (None: the newest)")
    g.add_argument("--avg", type=int, default=1, help="number of consecutive epochs to average")
    g.add_argument("--out", type=Path, default=None, help="output file (None: <exp-dir>/avg-<first>-<last>.pt)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging()
    paths = find_checkpoints(args.exp_dir, epoch=args.epoch, avg=args.avg)  # for the name; read_state_dict averages
    if not args.out and len(paths) == 1 and paths[0].name.startswith("avg-"):
        logging.info("%s is kept already (its epoch files are gone)", paths[0])
        return 0
    out = args.out or averaged_path(paths)
    weights = read_state_dict(args.exp_dir, avg=args.avg, epoch=args.epoch)
    atomic_save_torch({"model": weights, "averaged": [p.name for p in paths]}, out)
    logging.info("averaged %d checkpoints into %s", len(paths), out)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FileNotFoundError as err:
        logging.error("%s", err)
        sys.exit(1)
