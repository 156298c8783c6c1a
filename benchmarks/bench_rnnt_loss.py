#!/usr/bin/env python3
"""Pruned vs full RNN-T loss: time (forward + backward) and peak memory at LLM-sized vocabularies.

Usage:
    python -m benchmarks.bench_rnnt_loss --threads 2 --vocab 500 4000 32000

B=8, T=250 frames, U=60 tokens, encoder/decoder/joiner dim 256. Rows: ours (the model's
Transducer.loss: simple loss -> prune ranges -> project, prune, joiner on B*T*S*J -> pruned loss,
s_range=5), the backend's full loss (fast_rnnt/k2 rnnt_loss on B*T*(U+1)*V logits) and torchaudio's
full loss. Each case runs in its own process; memory is the peak RSS minus the RSS just before the
loss (inputs and weights excluded). A full loss whose logits alone would not fit in --max-gb is
reported as skipped rather than run.
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
B, T, U, DIM, S = 8, 250, 60, 256, 5
METHODS = ("ours_pruned", "backend_full", "torchaudio_full")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def run_case(method: str, vocab: int, threads: int, repeats: int) -> dict:
    import torch

    from prefixasr.model.transducer import Transducer

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    tr = Transducer(DIM, vocab, blank_id=0, decoder_dim=DIM, joiner_dim=DIM, prune_range=S)
    enc = torch.randn(B, T, DIM, requires_grad=True)
    enc_lens = torch.full((B,), T, dtype=torch.long)
    targets = torch.randint(1, vocab, (B, U)).tolist()

    def full(loss_fn):
        sos = torch.nn.functional.pad(torch.tensor(targets), (1, 0), value=0)
        dec = tr.decoder(sos)
        logits = tr.joiner(enc[:, :, None, :], dec[:, None, :, :])  # (B, T, U+1, V)
        return loss_fn(logits)

    def once() -> torch.Tensor:
        if method == "ours_pruned":
            simple, pruned = tr.loss(enc, enc_lens, targets)
            return 0.5 * simple + pruned
        if method == "backend_full":
            from prefixasr.losses import full_loss, make_boundary

            sym = torch.tensor(targets)
            bnd = make_boundary(enc_lens, torch.full((B,), U, dtype=torch.long))
            return full(lambda lg: full_loss(lg, sym, bnd, blank_id=0))
        import torchaudio

        return full(lambda lg: torchaudio.functional.rnnt_loss(
            lg, torch.tensor(targets, dtype=torch.int32), enc_lens.int(), torch.full((B,), U, dtype=torch.int32),
            blank=0, reduction="sum"))

    base = _rss_mb()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        loss = once()
        loss.backward()
        times.append(time.perf_counter() - t0)
        tr.zero_grad(set_to_none=True)
        enc.grad = None
    return {"method": method, "vocab": vocab, "sec": min(times), "peak_mb": _peak_mb() - base,
            "loss": float(loss)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--vocab", type=int, nargs="*", default=[500, 4000, 32000], help="vocabulary sizes")
    p.add_argument("--methods", nargs="*", default=list(METHODS), help="which losses")
    p.add_argument("--repeats", type=int, default=2, help="timed repeats of the pruned loss (full: 1)")
    p.add_argument("--max-gb", type=float, default=16.0, help="skip a full loss whose logits+grad exceed this")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "rnnt_loss.json", help="JSON output")
    p.add_argument("--one", nargs=2, default=None, help=argparse.SUPPRESS)  # internal: METHOD VOCAB
    args = p.parse_args()
    if args.one:
        method, vocab = args.one[0], int(args.one[1])
        print(json.dumps(run_case(method, vocab, args.threads, args.repeats if method == "ours_pruned" else 1)))
        return 0
    rows = []
    for vocab in args.vocab:
        for method in args.methods:
            need_gb = 2 * B * T * (U + 1) * vocab * 4 / 2**30  # logits + their gradient
            if method != "ours_pruned" and need_gb > args.max_gb:
                rows.append({"method": method, "vocab": vocab, "skipped": f"needs >{need_gb:.0f} GB"})
                continue
            out = subprocess.run([sys.executable, str(Path(__file__)), "--one", method, str(vocab), "--threads",
                                  str(args.threads), "--repeats", str(args.repeats)],
                                 capture_output=True, text=True, cwd=REPO)
            if out.returncode != 0:
                rows.append({"method": method, "vocab": vocab, "skipped": out.stderr.strip().splitlines()[-1][:80]})
                continue
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"pruned vs full RNN-T loss, fwd+bwd: B={B} T={T} U={U} joiner dim {DIM}, s_range={S}, "
          f"{args.threads} threads")
    print("| V | method | seconds | peak MB (net) | vs torchaudio: speed | memory |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "skipped" in r:
            print(f"| {r['vocab']} | {r['method']} | skipped: {r['skipped']} | | | |")
            continue
        ref = next((x for x in rows if x["vocab"] == r["vocab"] and x["method"] == "torchaudio_full"
                    and "skipped" not in x), None)
        speed = f"{ref['sec'] / r['sec']:.1f}x" if ref else "-"
        mem = f"{ref['peak_mb'] / max(r['peak_mb'], 1):.1f}x" if ref else "-"
        print(f"| {r['vocab']} | {r['method']} | {r['sec']:.2f} | {r['peak_mb']:.0f} | {speed} | {mem} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"B": B, "T": T, "U": U, "dim": DIM, "s_range": S, "threads": args.threads,
                                    "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
