#!/usr/bin/env python3
"""Training-step cost of a pretrained LLM (Gemma 3 270M) frozen, with LoRA, and fine-tuned, beside the demo's LM.

Usage:
    make -C tools gemma3-270m   # once
    python -m benchmarks.bench_llm --threads 2 --steps 3 --out benchmarks/results/llm.json

One step = forward, backward and AdamW update of the demo's prefix system (mini Conformer encoder, CTC-compressed
prefix with the CTC bridge, per-language soft prompts, pruned RNN-T on the character units, encoder CTC) on one
batch: 8 utterances of 5 s (random fbank) saying 8 Hindi sentences, each LLM reading them with its own tokenizer
(the units: characters). Each setting runs in its own process (peak RSS net of the process's baseline, model
loading included); the fastest timed step is reported (the machine is shared). Every setting reads the same speech
prefix (its mean length is printed); the ratio column is each setting's step time over the demo LM's, measured in
the same run.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GEMMA = REPO / "tools" / "models" / "gemma3-270m"
SENTENCES = ["यह एक छोटा वाक्य है", "मैं आज बाज़ार जाऊँगा", "भारत एक विशाल देश है", "वह रोज़ सुबह दौड़ता है",
             "हम कल दिल्ली जाएँगे", "बच्चे स्कूल में पढ़ते हैं", "आज मौसम बहुत अच्छा है", "उसने एक किताब खरीदी"]
BATCH, SECONDS = 8, 5.0
SETTINGS = {  # name: (description, model.llm overrides; None = the demo's own LM architecture from scratch)
    "demo_lm": ("demo LM (3.5M Llama, characters), fine-tuned", None),
    "gemma_frozen": ("Gemma 3 270M frozen", {"freeze": True}),
    "gemma_lora": ("Gemma 3 270M + LoRA r16 (q,k,v,o)",
                   {"lora": {"rank": 16, "alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}}),
    "gemma_lora_ckpt": ("Gemma 3 270M + LoRA r16, gradient checkpointing",
                        {"lora": {"rank": 16, "alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
                         "gradient_checkpointing": True}),
    "gemma_full": ("Gemma 3 270M fine-tuned", {"freeze": False}),
}


def _rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(name: str, threads: int, steps: int) -> dict:
    import torch

    from prefixasr.data.tokenizer import Tokenizer, train_sentencepiece
    from prefixasr.data.vocab import Vocabularies
    from prefixasr.model import build_model
    from prefixasr.train.config import load_config
    from prefixasr.train.experiment import resolve_token_ids
    from prefixasr.train.optim import build_optimizer

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    base = _rss_peak_mb()
    with tempfile.TemporaryDirectory() as tmp:  # the character units of these sentences
        (Path(tmp) / "t.txt").write_text("\n".join(SENTENCES * 20) + "\n", encoding="utf-8")
        units = Tokenizer.load(train_sentencepiece([Path(tmp) / "t.txt"], Path(tmp) / "c", 200, model_type="char"))
    _, llm_over = SETTINGS[name]
    cfg = load_config(REPO / "egs" / "indic" / "conf" / "train.yaml", ["model.init.path=null", "model.init.freeze=[]"])
    if llm_over is None:
        cfg["model"]["llm"]["type"] = "scratch"
        llm_tok = units
    else:
        cfg["model"]["llm"].update(type="pretrained", path=str(GEMMA), **llm_over)
        cfg["model"]["projector"]["align_positions"] = False
        llm_tok = Tokenizer.load(GEMMA)
    vocabs = Vocabularies(llm_tok, units, units)
    resolve_token_ids(cfg, vocabs)
    model = build_model(cfg, llm_tok.vocab_size, 10, vocabs=vocabs).train()
    # the same prefix for every setting: the compressed prefix's length follows the encoder CTC's labels, and the
    # heads built after the LLM start from different random numbers (LoRA's init draws some)
    torch.manual_seed(1)
    model.encoder_ctc.proj.reset_parameters()
    opt = build_optimizer(model, 1e-4, 0.01, (0.9, 0.98), {"llm": 0.05})
    frames = int(SECONDS * 100)
    feats, lens = torch.randn(BATCH, frames, 80), torch.full((BATCH,), frames, dtype=torch.long)
    targets, unit_targets = llm_tok.encode_batch(SENTENCES), units.encode_batch(SENTENCES)
    lang = torch.arange(BATCH) % 10

    def step() -> None:
        loss, _ = model(feats, lens, targets, lang, step=10_000, char_targets=unit_targets,
                        unit_targets=None if vocabs.shared else unit_targets)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    with torch.no_grad():
        prefix_len = int(model.encode_for_llm(feats, lens)[1].float().mean())
    step()  # warm-up (allocations, AdamW state)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {"setting": name, "desc": SETTINGS[name][0], "sec_per_step": min(times),
            "utt_per_sec": BATCH / min(times), "peak_mb": _rss_peak_mb() - base,
            "llm_tokens": sum(map(len, targets)), "prefix_len": prefix_len, "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
            "trainable_m": sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--steps", type=int, default=3, help="timed steps per setting (after one warm-up step)")
    p.add_argument("--settings", nargs="*", default=list(SETTINGS), help="which settings")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "llm.json", help="JSON output")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: run one setting in this process
    args = p.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.threads, args.steps)))
        return 0
    rows = []
    for name in args.settings:
        if name != "demo_lm" and not (GEMMA / "config.json").is_file():
            print(f"{name}: skipped, Gemma 3 270M is not installed (make -C tools gemma3-270m)", file=sys.stderr)
            continue
        out = subprocess.run([sys.executable, "-m", "benchmarks.bench_llm", "--one", name, "--threads",
                              str(args.threads), "--steps", str(args.steps)], capture_output=True, text=True, cwd=REPO)
        if out.returncode != 0:
            print(f"{name}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            return 1
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    ref = next((r["sec_per_step"] for r in rows if r["setting"] == "demo_lm"), None)
    print(f"{'setting':<52} {'s/step':>7} {'x demo':>7} {'utt/s':>6} {'peak MB':>8} {'prefix':>6} {'LLM tok':>7} "
          f"{'train M':>8}")
    for r in rows:
        r["x_demo"] = r["sec_per_step"] / ref if ref else None
        ratio = f"{r['x_demo']:.1f}" if ref else "-"
        print(f"{r['desc']:<52} {r['sec_per_step']:>7.2f} {ratio:>7} {r['utt_per_sec']:>6.2f} {r['peak_mb']:>8.0f} "
              f"{r['prefix_len']:>6d} {r['llm_tokens']:>7d} {r['trainable_m']:>8.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"batch": BATCH, "seconds": SECONDS, "threads": args.threads, "rows": rows},
                                   indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
