#!/usr/bin/env python3
"""Held-out perplexity of a causal LM per language, on the transcripts of a cut set (e.g. dev, whose sentences
never reach the LM's training text): one row per language in the log and a JSON file for RESULTS files.

Usage:
    python -m prefixasr.bin.lm_perplexity --lm exp/lm/hf --tokenizer data/lang/spm.model \\
        --cuts data/fbank/dev_cuts.jsonl.gz --output exp/lm/perplexity.json
    # a pretrained Hugging Face LM with its own tokenizer (a local copy)
    python -m prefixasr.bin.lm_perplexity --lm /path/to/Qwen2.5-0.5B --tokenizer /path/to/Qwen2.5-0.5B \\
        --cuts data/fbank/dev_cuts.jsonl.gz --output exp/qwen_perplexity.json

Each sentence is scored on its own as [BOS] tokens [EOS] (the LM stage's training rows); perplexity =
exp(total NLL / predicted tokens) per language and over all; and bits per character (total NLL in bits / the
sentences' characters, each sentence's end counted as one), which compares LMs whose tokens differ (the recipe's
characters, Gemma's word pieces). Cuts without text or language are skipped and counted.
Exit status 1 on a missing LM, tokenizer or cuts file.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Sequence

import torch

from prefixasr.common import atomic_write, setup_logging

log = logging.getLogger("lm_perplexity")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("input/output")
    g.add_argument("--lm", type=Path, required=True, help="Hugging Face causal LM directory")
    g.add_argument("--tokenizer", type=Path, required=True, help="sentencepiece .model or HF tokenizer directory")
    g.add_argument("--cuts", type=Path, required=True, help="lhotse cuts whose supervisions hold text and language")
    g.add_argument("--output", type=Path, required=True, help="JSON file: per-language perplexity and token counts")
    g = p.add_argument_group("runtime")
    g.add_argument("--batch-size", type=int, default=32, help="sentences per forward pass")
    g.add_argument("--log-level", default="INFO", help="logging level")
    return p


def sentences_by_language(cuts_path: Path) -> tuple[Dict[str, List[str]], int]:
    """Transcripts grouped by language, and how many cuts had no text or no language."""
    from lhotse import load_manifest_lazy

    out: Dict[str, List[str]] = defaultdict(list)
    skipped = 0
    for cut in load_manifest_lazy(cuts_path):
        sup = cut.supervisions[0] if cut.supervisions else None
        if sup is None or not sup.text or not sup.language:
            skipped += 1
            continue
        out[sup.language].append(sup.text)
    return dict(sorted(out.items())), skipped


@torch.no_grad()
def sentence_nll(llm: torch.nn.Module, rows: Sequence[List[int]], pad_id: int, batch_size: int) -> tuple[float, int]:
    """Summed NLL (nats) of every token after the first of each row, and how many tokens that is."""
    total, count = 0.0, 0
    for i in range(0, len(rows), batch_size):
        batch = rows[i: i + batch_size]
        width = max(len(r) for r in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for j, r in enumerate(batch):
            ids[j, : len(r)] = torch.tensor(r)
            mask[j, : len(r)] = 1
        logits = llm(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        target, keep = ids[:, 1:], mask[:, 1:].bool()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none")
        total += float(nll[keep].sum())
        count += int(keep.sum())
    return total, count


def main(argv: list[str] | None = None) -> int:
    from transformers import AutoModelForCausalLM

    from prefixasr.data.tokenizer import Tokenizer

    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    for path, what in ((args.lm, "--lm"), (args.tokenizer, "--tokenizer"), (args.cuts, "--cuts")):
        if not path.exists():
            log.error("%s %s does not exist", what, path)
            return 1
    tokenizer = Tokenizer.load(args.tokenizer)
    llm = AutoModelForCausalLM.from_pretrained(str(args.lm)).eval()
    by_lang, skipped = sentences_by_language(args.cuts)
    if skipped:
        log.warning("%s: %d cuts without text or language skipped", args.cuts, skipped)
    result: Dict[str, Dict[str, float]] = {}
    all_nll, all_tokens, all_chars = 0.0, 0, 0
    for lang, texts in by_lang.items():
        rows = [[tokenizer.bos_id, *tokenizer.encode(t), tokenizer.eos_id] for t in texts]
        nll, tokens = sentence_nll(llm, rows, tokenizer.pad_id, args.batch_size)
        chars = sum(len(t) + 1 for t in texts)
        result[lang] = {"perplexity": round(math.exp(nll / max(tokens, 1)), 3), "tokens": tokens,
                        "sentences": len(texts), "bits_per_char": round(nll / math.log(2) / chars, 4)}
        all_nll, all_tokens, all_chars = all_nll + nll, all_tokens + tokens, all_chars + chars
        log.info("%s: perplexity %.2f over %d tokens, %.3f bits per character (%d sentences)", lang,
                 result[lang]["perplexity"], tokens, result[lang]["bits_per_char"], len(texts))
    if not result:
        log.error("%s: no cut with text and language", args.cuts)
        return 1
    summary = {"lm": str(args.lm), "cuts": str(args.cuts), "per_lang": result, "skipped": skipped,
               "all": {"perplexity": round(math.exp(all_nll / max(all_tokens, 1)), 3), "tokens": all_tokens,
                       "bits_per_char": round(all_nll / math.log(2) / max(all_chars, 1), 4)}}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.output) as f:
        json.dump(summary, f, ensure_ascii=False, indent=2)
    log.info("all: perplexity %.2f, %.3f bits per character; written %s", summary["all"]["perplexity"],
             summary["all"]["bits_per_char"], args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
