"""Search errors or model errors? Decode a cut set with a system's LLM search and score each reference the way
that search ranks its hypotheses (the LLM made to follow it: prefixasr/decode/forced.py).

An utterance the search got wrong is a *search error* when its reference outranks the 1-best (the system prefers
the reference; the search did not reach it), else a *model error*. The report counts both, the references the
search could never write (over the token limit, or a token the script mask forbids), the reference tokens that were
not among a step's joint-decoding candidates, and which of the score's parts (LLM, CTC, n-gram, word penalty)
prefer the reference; `--output` gets one JSON line per utterance.

Usage:
  python -m prefixasr.bin.search_errors --exp-dir exp3/gemma --avg 2 --cuts data3/fbank/dev60_cuts.jsonl.gz \\
      --method llm_beam --output exp3/gemma/search_errors_dev60.jsonl
  # the same with another search: any decode option (--beam 8 --length-penalty 0 ...)

Options not given are the system's own decode settings (its config's decode block), as with prefixasr.bin.decode.
Exit status: 0 ok, 1 bad input or a method without an LLM.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional

import torch
from tqdm import tqdm

from prefixasr.common import atomic_write, setup_logging
from prefixasr.decode.decoder import Decoder, segment_batches
from prefixasr.decode.runner import add_search_arguments, options_from_args

log = logging.getLogger("search_errors")
PARTS = ("llm", "ctc", "ngram", "word")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    io = p.add_argument_group("input/output")
    io.add_argument("--exp-dir", type=Path, required=True, help="training experiment dir (config.yaml, epoch-N.pt)")
    io.add_argument("--cuts", type=Path, required=True, help="lhotse CutSet of segments (jsonl[.gz])")
    io.add_argument("--output", type=Path, default=None, help="one JSON line per utterance (default: none)")
    io.add_argument("--max-duration", type=float, default=100.0, help="seconds of audio per batch")
    m = p.add_argument_group("model")
    m.add_argument("--epoch", type=int, default=None, help="last epoch to load (default: the newest)")
    m.add_argument("--avg", type=int, default=1, help="number of epochs to average, ending at --epoch")
    m.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    add_search_arguments(p.add_argument_group("search"), method="llm_beam")
    p.add_argument("--log-level", default="INFO", help="logging level")
    return p


def summarise(records: List[dict]) -> Dict[str, int]:
    """Counts over the utterances whose 1-best is not their reference."""
    wrong = [r for r in records if r["hyp"] != r["ref"]]
    out = {"utterances": len(records), "wrong": len(wrong),
           "search_errors": sum(r["ref_score"]["ranked"] > r["hyp_score"]["ranked"] for r in wrong),
           "ref_total_higher": sum(r["ref_score"]["total"] > r["hyp_score"]["total"] for r in wrong),
           "ref_unreachable": sum(not r["ref_score"]["reachable"] for r in wrong),
           "ref_missed_candidates": sum(r["ref_score"]["missed"] > 0 for r in wrong)}
    for part in PARTS:
        have = [r for r in wrong if part in r["ref_score"]["parts"]]
        if have:
            out[f"{part}_prefers_ref"] = sum(r["ref_score"]["parts"][part] > r["hyp_score"]["parts"][part]
                                             for r in have)
    out["model_errors"] = out["wrong"] - out["search_errors"]
    return out


def report(counts: Dict[str, int]) -> str:
    wrong = max(counts["wrong"], 1)
    lines = [f"{'of the utterances the search got wrong':<44} {counts['wrong']:>5} of {counts['utterances']}"]
    for key, what in (("search_errors", "search errors (the reference outranks it)"),
                      ("model_errors", "model errors (the 1-best outranks it)"),
                      ("ref_total_higher", "reference's total score higher"),
                      ("ref_unreachable", "reference out of the search's reach"),
                      ("ref_missed_candidates", "reference tokens not among candidates"),
                      *((f"{p}_prefers_ref", f"the {p} part prefers the reference") for p in PARTS)):
        if key in counts:
            lines.append(f"  {what:<42} {counts[key]:>5} ({100 * counts[key] / wrong:.0f}%)")
    return "\n".join(lines)


def main(argv: Optional[list] = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        records = forced_records(args)
    except (FileNotFoundError, ValueError, KeyError) as e:
        log.error("%s", e)
        return 1
    if args.output is not None:
        with atomic_write(args.output) as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    counts = summarise(records)
    print(report(counts))
    log.info("%s: %d utterances, %d wrong, %d search errors", args.cuts, counts["utterances"], counts["wrong"],
             counts["search_errors"])
    return 0


@torch.inference_mode()
def forced_records(args: argparse.Namespace) -> List[dict]:
    """Decoder.search_errors' records for every cut of args.cuts, the references as training reads them."""
    from lhotse import CutSet

    from prefixasr.model import load_model

    if not args.cuts.is_file():
        raise FileNotFoundError(f"{args.cuts}: no such cuts file")
    loaded = load_model(args.exp_dir, epoch=args.epoch, avg=args.avg, device=args.device)
    dec = Decoder(loaded, options_from_args(args), "oracle", args.device)
    cuts = CutSet.from_file(args.cuts).to_eager()
    records: List[dict] = []
    with tqdm(total=len(cuts), unit="utt", desc="forced scores", mininterval=5) as bar:
        for batch in segment_batches(dec, cuts, args.max_duration, normalize=True):
            records.extend(dec.search_errors(batch))
            bar.update(len(batch.cut_ids))
    return records


if __name__ == "__main__":
    sys.exit(main())
