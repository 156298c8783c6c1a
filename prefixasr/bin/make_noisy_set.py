#!/usr/bin/env python3
"""Make the robustness copy of a test set: every recording with babble from other speakers of the set at an SNR
over its speech, in a sox reverberation (prefixasr/data/noisy.py). The recipe runs it in stage 0 for its
--noisy_sets (egs/indic: test -> test_noisy).

Usage:
    python -m prefixasr.bin.make_noisy_set --manifest-dir data/manifests --split test --output-split test_noisy \\
        --audio-dir data/audio/test_noisy --snr 10 --num-talkers 3 --reverb "50 50 100"

Writes <manifest-dir>/<output-split>_{recordings,supervisions}.jsonl.gz (last, each renamed into place) and one flac
a recording under --audio-dir (each renamed into place when written). Recordings that cannot be read are named in
the log, skipped and counted. Exit status 1 on missing manifests, a set with one speaker only, or every recording
skipped.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from prefixasr.common import setup_logging
from prefixasr.data.manifests import load_manifests, manifest_paths, save_manifests
from prefixasr.data.noisy import NoisyConfig, make_noisy_set


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("input/output")
    g.add_argument("--manifest-dir", type=Path, required=True, help="lhotse manifests: <split>_recordings etc.")
    g.add_argument("--split", required=True, help="the set to copy (e.g. test)")
    g.add_argument("--output-split", required=True, help="name of the copy (e.g. test_noisy)")
    g.add_argument("--audio-dir", type=Path, required=True, help="where the copy's flac files go")
    g = p.add_argument_group("degradation")
    g.add_argument("--snr", type=float, default=10.0, help="speech over babble, dB (default: %(default)s)")
    g.add_argument("--num-talkers", type=int, default=3, help="other speakers in the babble (default: %(default)s)")
    g.add_argument("--reverb", default="50 50 100",
                   help="sox reverb arguments (reverberance %%, HF damping %%, room scale %%); '' = none "
                        "(default: %(default)s)")
    g.add_argument("--seed", type=int, default=0, help="same seed, same set (default: %(default)s)")
    p.add_argument("--log-level", default="INFO", help="logging level")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    missing = [str(p) for p in manifest_paths(args.manifest_dir, args.split) if not p.is_file()]
    if missing:
        logging.error("no manifests for --split %s: %s", args.split, ", ".join(missing))
        return 1
    recordings, supervisions = load_manifests(args.manifest_dir, args.split)
    cfg = NoisyConfig(snr_db=args.snr, num_talkers=args.num_talkers, reverb=args.reverb, seed=args.seed)
    try:
        recs, sups, skipped = make_noisy_set(recordings, supervisions, args.audio_dir, cfg)
    except (ValueError, RuntimeError) as err:
        logging.error("%s: %s", args.split, err)
        return 1
    if len(recs) == 0:
        logging.error("%s: every recording was skipped; nothing written", args.split)
        return 1
    save_manifests(recs, sups, args.manifest_dir, args.output_split)
    logging.info("%s -> %s: %d recordings, %d supervisions, %d skipped (unreadable); %s dB SNR, %d talkers, reverb "
                 "%r", args.split, args.output_split, len(recs), len(sups), skipped, args.snr, args.num_talkers,
                 args.reverb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
