"""Decoding speed: real-time factor of LLM greedy with/without KV cache, LLM beam 4, RNN-T greedy/beam 4.

Usage:
    tools/venv/bin/python -m benchmarks.bench_decode [--batch 4] [--seconds 8] [--tokens 50] [--threads 2]

A randomly initialised model of the recipe's default size (prefixasr.model.config.MODEL_DEFAULTS:
6-layer Conformer d=144, 4-layer Llama d=256) decodes `batch` utterances of `seconds` of random fbank.
LLM methods are forced to emit exactly `tokens` tokens (EOS suppressed) so the cache comparison is
like for like. RTF = wall time / audio seconds (lower is faster). The check the issue asks for:
greedy with the cache must be >= 3x faster than without at 50 tokens (exit 1 otherwise).
Writes benchmarks/results/decode.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from prefixasr.common import atomic_write
from prefixasr.decode.llm_search import LlmSearchConfig
from prefixasr.decode.runner import DecodeOptions, decode_batch
from prefixasr.model import build_model


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, and the Usage docstring printed as written."""


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    g = p.add_argument_group("workload")
    g.add_argument("--batch", type=int, default=4, help="utterances per batch")
    g.add_argument("--seconds", type=float, default=8.0, help="audio seconds per utterance")
    g.add_argument("--tokens", type=int, default=50, help="LLM output tokens per utterance")
    g.add_argument("--vocab", type=int, default=500, help="vocabulary size")
    g.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    g.add_argument("--repeats", type=int, default=2, help="timed runs per method (the best is kept)")
    p.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "decode.json",
                   help="JSON results file")
    return p


def main() -> int:
    args = get_parser().parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = {"model": {"loss": {"ce_weight": 1.0, "rnnt_weight": 1.0}, "prompt": {"type": "langid", "init": "random"}}}
    model = build_model(cfg, args.vocab, 3).eval()
    # EOS suppressed: every utterance emits exactly --tokens tokens
    model.llm.get_output_embeddings().register_forward_hook(
        lambda m, i, out: out.index_fill_(-1, torch.tensor([model.eos_id]), -1e9))
    frames = int(args.seconds * 100)
    feats = torch.randn(args.batch, frames, 80)
    lens = torch.full((args.batch,), frames, dtype=torch.long)
    lang = torch.zeros(args.batch, dtype=torch.long)
    llm = LlmSearchConfig(max_new_tokens=args.tokens, max_tokens_per_frame=1e9)
    runs = {
        "llm_greedy (KV cache)": DecodeOptions("llm_greedy", llm=llm),
        "llm_greedy (no cache)": DecodeOptions("llm_greedy", llm=llm, use_cache=False),
        "llm_beam 4": DecodeOptions("llm_beam", beam=4, llm=llm),
        "rnnt_greedy": DecodeOptions("rnnt_greedy"),
        "rnnt_beam 4": DecodeOptions("rnnt_beam", beam=4),
    }
    audio = args.batch * args.seconds
    results = {}
    outputs = {}
    decode_batch(model, feats, lens, lang, runs["llm_greedy (KV cache)"])  # warm-up (allocator, kernels)
    print(f"{'method':<24}{'RTF':>10}{'wall s':>10}{'tokens/utt':>12}")
    for name, opts in runs.items():
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = decode_batch(model, feats, lens, lang, opts)
            best = min(best, time.perf_counter() - t0)
        outputs[name] = [d.tokens for d in out]
        ntok = sum(len(d.tokens) for d in out) / len(out)
        results[name] = {"rtf": best / audio, "wall_s": best, "tokens_per_utt": ntok}
        print(f"{name:<24}{best / audio:>10.4f}{best:>10.3f}{ntok:>12.1f}")
    speedup = results["llm_greedy (no cache)"]["wall_s"] / results["llm_greedy (KV cache)"]["wall_s"]
    same = outputs["llm_greedy (no cache)"] == outputs["llm_greedy (KV cache)"]
    print(f"KV cache speed-up at {args.tokens} tokens: {speedup:.2f}x (identical outputs: {same})")
    summary = {"args": {k: str(v) for k, v in vars(args).items()}, "results": results, "cache_speedup": speedup,
               "cache_outputs_identical": same, "torch": torch.__version__, "machine": platform.platform(),
               "device": "cpu"}
    with atomic_write(args.output) as f:
        json.dump(summary, f, indent=1)
    if speedup < 3.0 or not same:
        print("ERROR: the KV cache must be >= 3x faster with identical outputs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
