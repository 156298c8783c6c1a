"""Run a frozen pretrained speech encoder once over a cut manifest and store its outputs as lhotse features
(type "encoder:<name>", (T', d_model) per cut at the encoder's frame shift: 20 ms, 512 wide for Whisper base),
which an adapter (`model.encoder.type: adapter`, conf/encoder/whisper_base.yaml) trains on instead of running the
encoder on every batch of every epoch.

Usage:
  make -C tools whisper-base   # once: tools/models/whisper-base (HF) and tools/models/whisper-base-ct2
  python -m prefixasr.bin.cache_encoder --encoder tools/models/whisper-base \\
      --cuts data/cuts/train_cuts.jsonl.gz --output-dir data/whisper-base --num-jobs 2 --augment speed noise reverb
  # on a GPU: one process, larger batches
  python -m prefixasr.bin.cache_encoder --encoder tools/models/whisper-base --device cuda --batch-duration 600 \\
      --cuts data/cuts/dev_cuts.jsonl.gz --output-dir data/whisper-base

The cuts need audio (any cut manifest with recordings: make_cuts' or compute_fbank's). Writes
<output-dir>/<--output-name: by default the name of --cuts> (the cuts with the cached features) last, so a rerun
skips a finished split; the features go to <output-dir>/<its stem>_feats/shard-NNNNN.lca, one LilcomChunky
archive per shard of about --shard-duration seconds of audio, each renamed into place when complete: an interrupted
run resumes at the first unfinished shard. Progress is logged per shard (audio done, x real time, ETA). --encoder
takes a Hugging Face directory (Whisper, or a wav2vec2-style waveform encoder) or a CTranslate2 Whisper directory
(faster-whisper's); --name (default: the directory's name) is what the adapter's `model.encoder.adapter.input`
names. --augment adds the training set's augmented copies (prefixasr/data/augment.py), encoded like the rest.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from lhotse import CutSet

from prefixasr.common import setup_logging
from prefixasr.data.augment import AUGMENTATIONS
from prefixasr.model.encoder_cache import cache_encoder_outputs
from prefixasr.model.extractors import EncoderOutputsConfig, encoder_name


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=_Formatter)
    g = p.add_argument_group("input/output")
    g.add_argument("--encoder", required=True,
                   help="the frozen encoder: a Hugging Face or CTranslate2 Whisper directory (or HF waveform encoder)")
    g.add_argument("--cuts", required=True, help="input cut manifest with audio")
    g.add_argument("--output-dir", required=True, type=Path,
                   help="where the output manifest (named as --cuts) and its <stem>_feats/ shards go")
    g.add_argument("--output-name", default="", help="the output manifest's file name (default: that of --cuts)")
    g.add_argument("--name", default="", help="features of type encoder:<name> (default: --encoder's directory name)")
    g = p.add_argument_group("computation")
    g.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    g.add_argument("--num-jobs", type=int, default=1, help="parallel CPU processes (one thread and one model each)")
    g.add_argument("--batch-duration", type=float, default=60.0,
                   help="seconds of audio (padded) encoded at once; cuts are batched by length")
    g.add_argument("--shard-duration", type=float, default=600.0,
                   help="seconds of audio per stored shard: the unit of resumption and of progress lines")
    g.add_argument("--tick-power", type=int, default=-8,
                   help="lilcom precision: values rounded to multiples of 2^tick_power (-8: within 0.002)")
    g.add_argument("--augment", nargs="*", default=[], choices=AUGMENTATIONS,
                   help="augmented copies of the cuts, encoded too (train only; prefixasr/data/augment.py): speed "
                        "(0.9x, 1.1x), noise (another utterance or synthetic noise, 10-20 dB SNR), reverb (a room)")
    g.add_argument("--log-level", default="INFO", help="logging level")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    if not Path(args.cuts).is_file():
        logging.error("cut manifest not found: %s", args.cuts)
        return 1
    if not Path(args.encoder).is_dir():
        logging.error("--encoder %s is not a directory (install Whisper base with: make -C tools whisper-base)",
                      args.encoder)
        return 1
    config = EncoderOutputsConfig(path=args.encoder, name=encoder_name(args.encoder, args.name), device=args.device)
    output = args.output_dir / (args.output_name or Path(args.cuts).name)
    try:
        cache_encoder_outputs(CutSet.from_file(args.cuts), output, config, num_jobs=args.num_jobs,
                              batch_duration=args.batch_duration, shard_duration=args.shard_duration,
                              tick_power=args.tick_power, augment=args.augment)
    except ValueError as err:
        logging.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
