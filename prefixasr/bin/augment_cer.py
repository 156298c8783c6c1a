"""How often is the encoder CTC wrong on its training cuts, with and without the training loader's SpecAugment?

An LLM that reads the CTC's text after its prefix (model.projector.ctc_text) learns from what the CTC says in
training; a CTC that is always right there teaches it to copy, and at test time the copy carries the CTC's errors
through (docs/convergence.md part 30). This reports the CTC's greedy CER on a cut set as it is and under
SpecAugment, so that data.loader's SpecAugment options can be set to give training about the CER the CTC has on dev.

Usage:
  python -m prefixasr.bin.augment_cer --exp-dir exp5/pretrain_whisper_base_ft \\
      --cuts data4/whisper_mel/train60_cuts.jsonl.gz \\
      --set time_warp_factor=0 features_mask_size=10 num_frame_masks=4 frames_mask_size=20 max_frames_mask_fraction=0.05

SpecAugment's options are data.loader's (prefixasr.data.datamodule.DataConfig): the experiment's training config,
then --set. Exit status: 0 ok, 1 bad input or a system without an encoder CTC.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional

import torch

from prefixasr.common import setup_logging
from prefixasr.scoring.align import ErrorCounts, align, chars, count_errors

log = logging.getLogger("augment_cer")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    io = p.add_argument_group("input")
    io.add_argument("--exp-dir", type=Path, required=True, help="experiment dir of a system with an encoder CTC")
    io.add_argument("--cuts", type=Path, required=True, help="lhotse CutSet with features (jsonl[.gz])")
    io.add_argument("--max-duration", type=float, default=100.0, help="seconds of audio per batch")
    m = p.add_argument_group("model")
    m.add_argument("--epoch", type=int, default=None, help="last epoch to load (default: the newest)")
    m.add_argument("--avg", type=int, default=1, help="number of epochs to average, ending at --epoch")
    a = p.add_argument_group("augmentation")
    a.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="data.loader options over the experiment's (time_warp_factor=0 num_frame_masks=4 ...)")
    a.add_argument("--seed", type=int, default=0, help="torch seed of SpecAugment's draws")
    p.add_argument("--log-level", default="INFO", help="logging level")
    return p


def loader_config(exp_config: Dict, overrides: List[str]):
    """The experiment's data.loader options with `overrides` (KEY=VALUE, YAML values) on top."""
    from prefixasr.data.datamodule import AsrDataModule
    from prefixasr.train.config import parse_overrides

    options = {**exp_config.get("data", {}).get("loader", {}), **parse_overrides(overrides)}
    return AsrDataModule.from_dict(options).config  # (which names unknown options)


@torch.inference_mode()
def ctc_errors(args: argparse.Namespace) -> Dict[str, ErrorCounts]:
    """Character error counts of the encoder CTC's greedy reading of args.cuts: "clean" and "augmented"."""
    from lhotse import CutSet

    from prefixasr.data.datamodule import AsrDataModule, spec_augment, unpack_batch
    from prefixasr.model import load_model
    from prefixasr.model.heads import ctc_best_path

    if not args.cuts.is_file():
        raise FileNotFoundError(f"{args.cuts}: no such cuts file")
    loaded = load_model(args.exp_dir, epoch=args.epoch, avg=args.avg)
    model, char_tok = loaded.model.eval(), loaded.vocabs.chars
    if model.encoder_ctc is None or char_tok is None:
        raise ValueError(f"{args.exp_dir}: the system has no encoder CTC with character units")
    augment = spec_augment(loader_config(loaded.config, args.set))
    torch.manual_seed(args.seed)
    dm = AsrDataModule(max_duration=args.max_duration, num_workers=0, world_size=1, rank=0, shuffle=False)
    counts = {"clean": ErrorCounts(), "augmented": ErrorCounts()}
    for raw in dm.test_dataloader(CutSet.from_file(args.cuts)):
        batch = unpack_batch(raw)
        for name, feats in (("clean", batch.features), ("augmented", augment(batch.features))):
            enc, enc_lens = model.encoder(feats, batch.feature_lens)
            said = ctc_best_path(model.ctc_logits(enc).argmax(-1), enc_lens, model.encoder_ctc.blank_id)
            for (ids, _), ref in zip(said, batch.texts):
                counts[name] += count_errors(align(chars(ref), chars(char_tok.decode(ids))))
    return counts


def main(argv: Optional[list] = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        counts = ctc_errors(args)
    except (FileNotFoundError, ValueError, KeyError) as e:
        log.error("%s", e)
        return 1
    for name, c in counts.items():
        print(f"{name:<10} CER {c.rate:6.2f}%  (sub {c.sub}, del {c.dels}, ins {c.ins} of {c.ref_len} characters, "
              f"{c.num_utts} utterances)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
