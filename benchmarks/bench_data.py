"""Data benchmarks: synthesis + long-form assembly speed and fbank extraction speed (× real time).

Usage:
  python benchmarks/bench_data.py --download-dir egs/indic/downloads --work-dir /tmp/bench_data --num-jobs 2

Targets (issue 3): synthesis + assembly ≥ 100× real time on 2 cores; fbank ≥ 300× real time.
Prints a table and writes benchmarks/results/bench_data.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from prefixasr.common import atomic_write, setup_logging
from prefixasr.data.features import compute_fbank
from prefixasr.data.harvest import harvest_cached, read_text_dir
from prefixasr.data.manifests import load_manifests
from prefixasr.data.segment import long_cuts
from prefixasr.data.synthetic import build_corpus, make_config


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--languages", nargs="+", default=["hi", "ta"], help="languages to synthesise")
    p.add_argument("--train-utts", type=int, default=100, help="train utterances per language")
    p.add_argument("--download-dir", default="downloads", help="harvest cache (Debian packages)")
    p.add_argument("--text-dir", default=None, help="use <lang>.txt files instead of the harvest")
    p.add_argument("--work-dir", default="/tmp/bench_data", help="scratch dir (deleted first)")
    p.add_argument("--num-jobs", type=int, default=2, help="parallel processes")
    p.add_argument("--output", default="benchmarks/results/bench_data.json", help="JSON results file")
    return p


def main() -> None:
    args = get_parser().parse_args()
    setup_logging("WARNING")
    work = Path(args.work_dir)
    shutil.rmtree(work, ignore_errors=True)
    if args.text_dir:
        sents, en = read_text_dir(args.text_dir, args.languages)
    else:
        sents, en = harvest_cached(args.languages, "mini", args.download_dir)
    cfg = make_config("mini", languages=args.languages, utts={"train": args.train_utts, "dev": 5, "test": 5},
                      noise_snr=20.0, code_switch_prob=0.1)
    stats = build_corpus(sents, en, cfg, work / "data", num_jobs=args.num_jobs)
    recs, sups = load_manifests(work / "data" / "manifests", "train")
    cuts = long_cuts(recs, sups)
    audio_s = sum(c.duration for c in cuts)
    t0 = time.time()
    compute_fbank(cuts, work / "fbank" / "train_long_cuts.jsonl.gz", work / "fbank" / "feats", num_jobs=args.num_jobs)
    fbank_s = time.time() - t0
    results = {
        "synthesis": {"audio_s": round(stats["audio_hours"] * 3600, 1), "wall_s": stats["seconds"],
                      "x_real_time": stats["real_time_factor"], "target": 100},
        "fbank": {"audio_s": round(audio_s, 1), "wall_s": round(fbank_s, 2),
                  "x_real_time": round(audio_s / fbank_s, 1), "target": 300},
        "num_jobs": args.num_jobs,
    }
    print(f"{'stage':<10} {'audio s':>9} {'wall s':>8} {'x RT':>7} {'target':>7}")
    for name in ("synthesis", "fbank"):
        r = results[name]
        print(f"{name:<10} {r['audio_s']:>9.1f} {r['wall_s']:>8.2f} {r['x_real_time']:>7.1f} {r['target']:>7}")
    with atomic_write(args.output) as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
