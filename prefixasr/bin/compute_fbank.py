"""Compute the features an encoder reads for a cut manifest (lhotse, LilcomChunkyWriter, parallel, resumable):
80-dim Kaldi fbank (our Conformer, Speech2Text, w2v-BERT) or Whisper's own log-mel (a Whisper encoder,
`model.encoder.type: hf`; lhotse feature type "whisper-logmel"). Training and decoding refuse features of the
wrong kind. A frozen encoder's outputs are cached by prefixasr.bin.cache_encoder instead.

Usage:
  python -m prefixasr.bin.compute_fbank --cuts data/cuts/train_cuts.jsonl.gz \
      --output-cuts data/fbank/train_cuts.jsonl.gz --num-jobs 2 --augment speed noise reverb
  python -m prefixasr.bin.compute_fbank --kind whisper_mel --cuts data/cuts/train_cuts.jsonl.gz \
      --output-cuts data/whisper_mel/train_cuts.jsonl.gz --num-jobs 2

Feature matrices go to <output-cuts dir>/<name>_feats (a LilcomChunky archive); the output cut
manifest is written last, so a rerun skips a finished split. Augmented copies (--augment) are for train.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from lhotse import CutSet

from prefixasr.common import setup_logging
from prefixasr.data.augment import AUGMENTATIONS
from prefixasr.data.features import FBANK, WHISPER_MEL, compute_fbank
from prefixasr.model.extractors import WhisperLogMelConfig, WhisperLogMelExtractor


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("input/output")
    g.add_argument("--cuts", required=True, help="input cut manifest (from make_cuts)")
    g.add_argument("--output-cuts", required=True, help="output cut manifest with features")
    g = p.add_argument_group("features")
    g.add_argument("--kind", choices=[FBANK, WHISPER_MEL], default=FBANK,
                   help="what the encoder reads: Kaldi fbank, or Whisper's own log-mel (its input_kind)")
    g.add_argument("--num-mel-bins", type=int, default=80, help="mel bins (Whisper large-v3 reads 128)")
    g.add_argument("--augment", nargs="*", default=[], choices=AUGMENTATIONS,
                   help="augmented copies of the cuts (train only; prefixasr/data/augment.py): speed (0.9x, 1.1x), "
                        "noise (another utterance or synthetic noise, 10-20 dB SNR), reverb (a random room)")
    g.add_argument("--num-jobs", type=int, default=2, help="parallel extraction processes")
    g.add_argument("--log-level", default="INFO", help="logging level")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    if not Path(args.cuts).is_file():
        logging.error("cut manifest not found: %s", args.cuts)
        return 1
    out = Path(args.output_cuts)
    storage = out.parent / (out.name.split(".")[0] + "_feats")
    extractor = WhisperLogMelExtractor(WhisperLogMelConfig(args.num_mel_bins)) if args.kind == WHISPER_MEL else None
    compute_fbank(CutSet.from_file(args.cuts), out, storage, num_jobs=args.num_jobs,
                  augment=args.augment, num_mel_bins=args.num_mel_bins, extractor=extractor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
