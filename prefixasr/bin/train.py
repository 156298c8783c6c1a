#!/usr/bin/env python3
"""Train a speech-prefix LLM system (or an RNN-T-only baseline) from a YAML config.

Usage:
    python -m prefixasr.bin.train --config conf/systems/mini_frozen_rnnt_langid.yaml --exp-dir exp/mini \\
        data.train_cuts=data/fbank/train_cuts.jsonl.gz data.valid_cuts=data/fbank/dev_cuts.jsonl.gz \\
        data.tokenizer=data/lang/spm.model data.lang_map=data/lang/lang2id.json model.llm.path=exp/lm/hf

    # two processes (GPUs with NCCL, or CPU with gloo):
    torchrun --nproc_per_node 2 -m prefixasr.bin.train --config X.yaml --exp-dir exp/X
    # continue an interrupted run where it stopped (mid-epoch included):
    python -m prefixasr.bin.train --exp-dir exp/mini --resume

Any config key can be overridden as section.key=value (values are YAML). The complete config is
saved to <exp-dir>/config.yaml; decoding reads it from there.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from prefixasr.common import setup_logging
from prefixasr.model.build import EXP_CONFIG, build_model
from prefixasr.model.init import initialise_from
from prefixasr.train import dist
from prefixasr.train.checkpoint import latest_checkpoint, seed_all
from prefixasr.train.config import config_changes, load_config
from prefixasr.train.data import load_cuts
from prefixasr.train.env import environment_info
from prefixasr.train.experiment import load_data_files, prepare_exp_dir, resolve_token_ids
from prefixasr.train.trainer import BatchTooLarge, Trainer


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=_Formatter)
    io = p.add_argument_group("experiment")
    io.add_argument("--config", type=Path, default=None,
                    help="system YAML config (sections data/model/train; `include:` for conf/ blocks); optional with --resume")
    io.add_argument("--exp-dir", type=Path, required=True, help="experiment directory (created if missing)")
    io.add_argument("--resume", action="store_true",
                    help="continue from the newest epoch-N.pt/checkpoint-N.pt in --exp-dir, using its config.yaml "
                         "and continue its epochs/steps")
    io.add_argument("overrides", nargs="*", default=[],
                    help="config overrides section.key=value, e.g. train.lr=5e-4 data.loader.max_duration=100")
    misc = p.add_argument_group("logging")
    misc.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"],
                      help="log level")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)  # to stderr until the exp dir's train.log is known
    saved = args.exp_dir / EXP_CONFIG
    if args.resume and saved.is_file():
        import yaml

        with open(saved, encoding="utf-8") as f:
            cfg = load_config(None, args.overrides, base=yaml.safe_load(f))
        changes = config_changes(cfg, load_config(args.config, args.overrides)) if args.config else []
        if changes:
            raise ValueError(f"--resume: the config differs from the interrupted run's {saved} "
                             f"({'; '.join(changes)}); resume without changes, or train into a new --exp-dir")
    elif args.config is None:
        raise ValueError(f"--config is required (no {saved} to resume from)")
    else:
        cfg = load_config(args.config, args.overrides)

    info = dist.setup(cfg["train"]["device"])
    log_file = args.exp_dir / ("train.log" if info.is_main else f"train.rank{info.rank}.log")
    setup_logging(args.log_level, log_file)
    if cfg["train"]["num_threads"] > 0:
        torch.set_num_threads(cfg["train"]["num_threads"])
    seed_all(cfg["train"]["seed"])

    vocabs, lang_map = load_data_files(cfg)
    resolve_token_ids(cfg, vocabs)
    if info.is_main:
        env = environment_info(info.world_size, info.device)
        cfg = prepare_exp_dir(cfg, args.exp_dir, env, vocabs)
        logging.info("environment: %s", env)
    model = build_model(cfg, vocabs.llm.vocab_size, len(lang_map), tokenizer=vocabs.llm, languages=lang_map.languages,
                        vocabs=vocabs)
    last = latest_checkpoint(args.exp_dir) if args.resume else None
    if last is None:  # a resumed run has these weights in its checkpoint already
        initialise_from(model, cfg["model"]["init"])
    n_all = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logging.info("model: %.2fM parameters, %.2fM trainable; world size %d on %s",
                 n_all / 1e6, n_train / 1e6, info.world_size, info.device)

    train_cuts = load_cuts(cfg["data"]["train_cuts"], "train_cuts")
    valid_cuts = load_cuts(cfg["data"]["valid_cuts"], "valid_cuts") if cfg["data"]["valid_cuts"] else None
    trainer = Trainer(cfg, args.exp_dir, model, vocabs, lang_map, train_cuts, valid_cuts, info)
    if args.resume and last is None:
        logging.warning("--resume: no checkpoint in %s, starting from scratch", args.exp_dir)
    elif last is not None:
        trainer.resume(last)
    trainer.fit()
    dist.cleanup()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BatchTooLarge, FileNotFoundError, ValueError, KeyError) as err:
        logging.error("%s", err)
        sys.exit(1)
