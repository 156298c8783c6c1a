#!/usr/bin/env python3
"""Training-step throughput on CPU: seconds of audio per second for our systems, beside ESPnet's.

Usage:
    python benchmarks/bench_train.py --threads 2 --steps 5 --out benchmarks/results/train.json

One step = forward, backward and AdamW update on B=8 utterances of 6 s (80-dim fbank, random),
~5 tokens/s of random targets from a vocabulary of 500. Each system runs in its own subprocess
(peak memory net of the process's baseline). FLOP/s: the step's matmul/conv FLOPs counted by
torch.utils.flop_counter over its time, as a fraction of this machine's measured matmul FLOP/s.
The fastest timed step is reported (the machine is shared). ESPnet rows are the issue's measurements on this machine kind (ESPnet 202511, same torch, 2 threads).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ESPNET = [("ESPnet transducer (warp-transducer), 144x6x4", 0.99),
          ("ESPnet CTC/attention, 144x6x4", 0.61)]
BATCH, SECONDS, TOKENS_PER_SECOND, VOCAB = 8, 6.0, 5, 500

SYSTEMS = {
    # name: (system config in conf/systems, encoder block in conf/encoder or None, description)
    "rnnt_only_144x6": ("rnnt_only", "base144", "ours RNN-T only, 144x6x4"),
    "frozen_rnnt_144x6": ("frozen_shared_rnnt", "base144", "ours frozen 3.5M LLM + RNN-T, 144x6x4"),
    "frozen_langid_rnnt_144x6": ("frozen_langid_rnnt", "base144", "ours frozen 3.5M LLM + langID + RNN-T, 144x6x4"),
    "ft_ce_rnnt_mini": ("ft_ce_rnnt", None, "mini: fine-tuned 3.5M LLM + RNN-T"),
    "frozen_rnnt_mini": ("frozen_shared_rnnt", None, "mini: frozen 3.5M LLM + RNN-T"),
    "ft_ce_mini": ("ft_ce", None, "mini: fine-tuned 3.5M LLM, CE only"),
    "frozen_ce_mini": ("frozen_shared", None, "mini: frozen 3.5M LLM, CE only"),
}


def _rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(name: str, threads: int, steps: int) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from prefixasr.model import build_model
    from prefixasr.train.config import load_config
    from prefixasr.train.optim import build_optimizer

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    system, encoder, _ = SYSTEMS[name]
    # the LM stage's output is not needed: the same architecture, randomly initialised
    overrides = [] if system == "rnnt_only" else ["model.llm.type=scratch"]
    cfg = load_config(REPO / "conf" / "systems" / f"{system}.yaml", overrides)
    if encoder is not None:
        cfg["model"]["encoder"] = load_config(REPO / "conf" / "encoder" / f"{encoder}.yaml")["model"]["encoder"]
    model = build_model(cfg, VOCAB, 10).train()
    opt = build_optimizer(model, 1e-4, 0.01, (0.9, 0.98))
    frames = int(SECONDS * 100)
    feats = torch.randn(BATCH, frames, 80)
    lens = torch.full((BATCH,), frames, dtype=torch.long)
    u = int(SECONDS * TOKENS_PER_SECOND)
    targets = torch.randint(4, VOCAB, (BATCH, u)).tolist()
    lang = torch.arange(BATCH) % 10

    def step() -> None:
        loss, _ = model(feats, lens, targets, lang, step=10_000)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    base = _rss_peak_mb()
    step()  # warm-up (allocations, AdamW state)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    sec = min(times)  # the machine is shared: the least-disturbed step
    peak = _rss_peak_mb() - base
    with FlopCounterMode(display=False) as fc:
        step()
    flops = fc.get_total_flops()
    n_all = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    matmul = machine_matmul_gflops(threads)  # measured beside the step, under the same load
    return {"system": name, "desc": SYSTEMS[name][2], "sec_per_step": sec, "audio_sec_per_sec": BATCH * SECONDS / sec,
            "matmul_gflops": matmul, "flops_fraction": flops / 1e9 / sec / matmul,
            "peak_mb": peak, "step_gflop": flops / 1e9, "params_m": n_all / 1e6, "trainable_m": n_train / 1e6}


def machine_matmul_gflops(threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    n, t0 = 20, time.perf_counter()
    for _ in range(n):
        a @ b
    return 2 * 1024**3 * n / (time.perf_counter() - t0) / 1e9


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--steps", type=int, default=5, help="timed steps per system (after one warm-up step)")
    p.add_argument("--systems", nargs="*", default=list(SYSTEMS), help="which systems")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "train.json", help="JSON output")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: run one system in this process
    args = p.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.threads, args.steps)))
        return 0
    rows = []
    for name in args.systems:
        out = subprocess.run([sys.executable, __file__, "--one", name, "--threads", str(args.threads),
                              "--steps", str(args.steps)], capture_output=True, text=True, cwd=REPO)
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            return 1
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"B={BATCH} x {SECONDS:g}s, V={VOCAB}, {args.threads} threads; FLOP fraction vs a 1024^3 matmul timed "
          f"in the same process ({min(r['matmul_gflops'] for r in rows):.0f}-{max(r['matmul_gflops'] for r in rows):.0f} GFLOP/s)")
    print(f"| {'system':58s} | s/step | audio-s/s | peak MB | GFLOP/step | % of matmul peak | params M (trainable) |")
    print(f"|{'-' * 60}|--------|-----------|---------|------------|------------------|----------------------|")
    for desc, sec in ESPNET:
        print(f"| {desc + ', V=500':58s} | {sec:6.2f} | {BATCH * SECONDS / sec:9.1f} |       - |          - |                - |                    - |")
    for r in rows:
        print(f"| {r['desc'] + ', V=500':58s} | {r['sec_per_step']:6.2f} | {r['audio_sec_per_sec']:9.1f} | {r['peak_mb']:7.0f} | "
              f"{r['step_gflop']:10.1f} | {100 * r['flops_fraction']:15.1f}% | {r['params_m']:6.2f} ({r['trainable_m']:.2f})       |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"threads": args.threads, "espnet": ESPNET, "rows": rows},
                                   indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
