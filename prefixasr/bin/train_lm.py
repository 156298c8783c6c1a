#!/usr/bin/env python3
"""Pre-train the from-scratch Llama LM on the recipe's text (held-out perplexity logged).

Usage:
    python -m prefixasr.bin.train_lm --config conf/lm/mini.yaml --exp-dir exp/lm_mini \\
        data.text=data/lang/lm_text.txt data.tokenizer=data/lang/spm.model
    python -m prefixasr.bin.train_lm --config conf/lm/mini.yaml --exp-dir exp/lm_mini --resume ...  # after a kill

Writes <exp-dir>/hf (a Hugging Face model directory: point model.llm.path at it), config.yaml,
train_lm.log, tensorboard/ and result.json (final perplexity). Overrides: section.key=value.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from prefixasr.common import atomic_write, setup_logging
from prefixasr.train.config import config_changes, deep_update, parse_overrides, read_yaml, save_config
from prefixasr.train.lm import lm_config, train_lm


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=_Formatter)
    g = p.add_argument_group("experiment")
    g.add_argument("--config", type=Path, required=True, help="LM YAML config (sections data/model/train)")
    g.add_argument("--exp-dir", type=Path, required=True, help="output directory (created if missing)")
    g.add_argument("--resume", action="store_true",
                   help="continue from <exp-dir>/checkpoint.pt (saved at every validation) when it exists")
    g.add_argument("overrides", nargs="*", default=[], help="config overrides section.key=value")
    g2 = p.add_argument_group("logging")
    g2.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"], help="log level")
    return p


def main(argv: list[str] | None = None) -> int:
    from prefixasr.data.tokenizer import Tokenizer

    args = get_parser().parse_args(argv)
    setup_logging(args.log_level, args.exp_dir / "train_lm.log")
    cfg = lm_config(deep_update(read_yaml(args.config), parse_overrides(args.overrides)))
    t = cfg["train"]
    if t["num_threads"] > 0:
        torch.set_num_threads(t["num_threads"])
    use_cuda = torch.cuda.is_available() if t["device"] == "auto" else t["device"] == "cuda"
    device = torch.device("cuda" if use_cuda else "cpu")
    tok_path = cfg["data"]["tokenizer"]
    if not tok_path or not Path(tok_path).exists():
        raise FileNotFoundError(f"data.tokenizer: {tok_path!r} does not exist")
    tokenizer = Tokenizer.load(tok_path)
    saved = args.exp_dir / "config.yaml"
    if args.resume and saved.is_file():
        changes = config_changes(read_yaml(saved), cfg)
        if changes:
            raise ValueError(f"--resume: the config differs from the interrupted run's {saved} "
                             f"({'; '.join(changes)}); resume without changes, or train into a new --exp-dir")
    save_config(cfg, saved)
    from torch.utils.tensorboard import SummaryWriter

    tb = SummaryWriter(str(args.exp_dir / "tensorboard"))
    ppl = train_lm(cfg, tokenizer, args.exp_dir, device, tb, resume=args.resume)
    tb.close()
    with atomic_write(args.exp_dir / "result.json") as f:
        json.dump({"valid_perplexity": ppl, "hf_dir": str(args.exp_dir / "hf")}, f, indent=2)
    logging.info("done: held-out perplexity %.2f; model in %s", ppl, args.exp_dir / "hf")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (FileNotFoundError, ValueError) as err:
        logging.error("%s", err)
        sys.exit(1)
