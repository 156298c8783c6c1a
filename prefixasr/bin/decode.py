"""Decode a cut set with a trained system: LLM greedy/beam (KV cache) or RNN-T greedy/modified beam,
segment by segment or whole long recordings (cut at pauses, or in overlapping windows); then score.

Usage:
  python -m prefixasr.bin.decode --exp-dir exp/frozen_rnnt --cuts data/fbank/test_cuts.jsonl.gz \\
      --method llm_beam --beam 4 --epoch 20 --avg 5
  # long-form: whole recordings, 30 s windows overlapping by 5 s, CTM output
  python -m prefixasr.bin.decode --exp-dir exp/frozen_rnnt --cuts data/fbank/test_long_cuts.jsonl.gz \\
      --method rnnt_greedy --long-form --window 30 --overlap 5
  # long-form with the LLM: segments cut at the encoder CTC's pauses (the LLM methods' default)
  python -m prefixasr.bin.decode --exp-dir exp/train --cuts data/fbank/test_long_cuts.jsonl.gz \\
      --method llm_greedy --long-form --split pauses
  # joint CTC/LLM decoding (the encoder CTC's prefix score; a system's default is its config's decode.ctc_weight)
  python -m prefixasr.bin.decode --exp-dir exp/train --cuts data/fbank/test_cuts.jsonl.gz --method llm_greedy \\
      --ctc-weight 0.5
  # split jobs (e.g. run.pl/slurm.pl JOB=1:4 ... --job-index $((JOB-1)) --num-jobs 4): the last one merges
  python -m prefixasr.bin.decode --exp-dir exp/sys --cuts X --method llm_greedy --num-jobs 4 --job-index 0

The model is rebuilt from <exp-dir>/config.yaml (no model flags here) and loaded from epoch-N.pt,
averaging epochs N-avg+1..N (--epoch omitted: the newest). Methods: llm_greedy, llm_beam, rnnt_greedy,
rnnt_beam. The language prompt comes from each cut's supervision language (--langid oracle) or from the
language-ID head (--langid predicted; the accuracy is logged and stored in decode_info.json).

Decode dir (default <exp-dir>/decode_<set>_<method>[_<suffix>], <set> from the cuts file name):
  text, ref, utt2lang   Kaldi `utt value` files (hypotheses, references, languages)
  utt2lang_pred         languages the LID head predicts (systems with one; used for the prompts with --langid predicted)
  ctm                   `utt 1 start dur word` (long-form)
  decode_info.json      set, method, settings suffix, checkpoint, options
  .partial/             per-job progress; a rerun skips utterances already there (resumable)
and, unless --no-score, everything prefixasr.bin.score writes (wer, cer, recogs-*, errs-*, trn, scores.json).
Exit status: 0 ok (also for a job that is not the last to finish), 1 bad input or model/method mismatch.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import Optional

import torch

from prefixasr.common import setup_logging
from prefixasr.decode.decoder import LANGID_MODES, Decoder, decode_cuts
from prefixasr.decode.longform import SPLITS
from prefixasr.decode.runner import add_search_arguments, default_window, options_from_args
from prefixasr.decode.settings import DECODE_DEFAULTS
from prefixasr.decode.writer import DecodeDirWriter

log = logging.getLogger("decode")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, and the Usage docstring printed as written."""


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    io = p.add_argument_group("input/output")
    io.add_argument("--exp-dir", type=Path, required=True, help="training experiment dir (config.yaml, epoch-N.pt)")
    io.add_argument("--cuts", type=Path, required=True, help="lhotse CutSet to decode (jsonl[.gz])")
    io.add_argument("--decode-dir", type=Path, default=None,
                    help="output dir; default <exp-dir>/decode_<set>_<method>[_<suffix>]")
    io.add_argument("--set-name", default=None, help="test set name; default from the cuts file name")
    io.add_argument("--suffix", default="", help="extra tag appended to the decode dir name")
    io.add_argument("--score", action=argparse.BooleanOptionalAction, default=True,
                    help="score the decode dir after merging (--no-score: only decode)")
    m = p.add_argument_group("model")
    m.add_argument("--epoch", type=int, default=None, help="last epoch to load; None = the newest")
    m.add_argument("--avg", type=int, default=1, help="number of epochs to average, ending at --epoch")
    m.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    s = p.add_argument_group("search")
    add_search_arguments(s, method=None)  # None: the system config's decode.method, as the transcribe tool
    s.add_argument("--langid", choices=LANGID_MODES, default="oracle",
                   help="language prompt from the cut (oracle) or from the language-ID head")
    lf = p.add_argument_group("long-form")
    lf.add_argument("--long-form", action="store_true", help="decode whole recordings (cut as --split says)")
    lf.add_argument("--split", choices=SPLITS, default=None,
                    help="cut recordings at the encoder CTC's pauses or into overlapping windows "
                         "(default: pauses for the LLM methods, windows for the others)")
    lf.add_argument("--window", type=float, default=None,
                    help="window length in seconds (default: 10 for the LLM methods, 30 for the others)")
    lf.add_argument("--overlap", type=float, default=None,
                    help="overlap of neighbouring windows in seconds (default: 2 for the LLM methods, 5 for the "
                         "others)")
    j = p.add_argument_group("jobs")
    j.add_argument("--num-jobs", type=int, default=1, help="number of split jobs")
    j.add_argument("--job-index", type=int, default=0, help="this job's index, 0-based")
    j.add_argument("--max-duration", type=float, default=100.0, help="seconds of audio per batch")
    p.add_argument("--log-level", default="INFO", help="logging level")
    return p


def set_name_of(cuts_path: Path) -> str:
    name = re.sub(r"\.jsonl(\.gz)?$|\.json$", "", cuts_path.name)
    return re.sub(r"^cuts_|_cuts$", "", name)


def settings_suffix(args: argparse.Namespace, avg: int) -> str:
    """icefall-style tag for file names:
    llm_beam_epoch-20_avg-5_beam-4[_lp-0][_mtf-1.5][_longform-30-5][_langid-predicted][_ctc-0.5[-propose]]
    [_ngram-0.3][_wip-2][_script-mask]."""
    parts = [args.method, f"epoch-{args.epoch if args.epoch is not None else 'last'}", f"avg-{avg}"]
    if args.method.endswith("beam"):
        parts.append(f"beam-{args.beam}")
    if args.method == "llm_beam" and args.length_penalty != DECODE_DEFAULTS["length_penalty"]:
        parts.append(f"lp-{args.length_penalty:g}")
    if args.method.startswith("llm") and args.max_tokens_per_frame != DECODE_DEFAULTS["max_tokens_per_frame"]:
        parts.append(f"mtf-{args.max_tokens_per_frame:g}")
    if args.long_form:
        parts.append("longform-pauses" if args.split == "pauses" else f"longform-{args.window:g}-{args.overlap:g}")
    if args.langid == "predicted":
        parts.append("langid-predicted")
    if args.ctc_weight > 0 and args.method.startswith("llm"):
        parts.append(f"ctc-{args.ctc_weight:g}" + ("-propose" if args.ctc_propose else ""))
    if args.ngram_weight > 0 and args.method.startswith("llm"):
        parts.append(f"ngram-{args.ngram_weight:g}")
    if args.word_penalty and args.method.startswith("llm"):  # negative: a word bonus, named too
        parts.append(f"wip-{args.word_penalty:g}")
    if args.script_mask:
        parts.append("script-mask")
    return "_".join(parts)


def main(argv: Optional[list] = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        with torch.inference_mode():  # scoped: main() is also called in-process (tests, tools)
            return run(args)
    except (FileNotFoundError, ValueError, KeyError) as e:
        log.error("%s", e)
        return 1


def run(args: argparse.Namespace) -> int:
    from lhotse import CutSet

    from prefixasr.model import load_model
    from prefixasr.scoring.formats import wer_line
    from prefixasr.scoring.score_dir import score_dir

    if not args.cuts.is_file():
        raise FileNotFoundError(f"{args.cuts}: no such cuts file")
    set_name = args.set_name or set_name_of(args.cuts)
    loaded = load_model(args.exp_dir, epoch=args.epoch, avg=args.avg, device=args.device)
    dec = Decoder(loaded, options_from_args(args), args.langid, args.device)
    args.method = dec.opts.method  # as given, or the system config's decode.method, else the model's own
    window, overlap = default_window(args.method)
    args.window = window if args.window is None else args.window
    args.overlap = overlap if args.overlap is None else args.overlap
    args.ctc_weight = dec.opts.llm.ctc_weight  # as given, or the system config's decode.ctc_weight
    args.script_mask = dec.vocab_mask is not None  # likewise decode.script_mask (never for ctc_greedy)
    args.ngram_weight = dec.opts.llm.ngram_weight  # likewise decode.ngram_weight
    args.ngram = dec.opts.ngram  # the file fused in (given, or the experiment's own)
    args.word_penalty = dec.opts.llm.word_penalty  # likewise decode.word_penalty
    args.ctc_propose = dec.opts.llm.ctc_propose  # likewise decode.ctc_propose
    args.beam = dec.opts.beam  # likewise decode.beam
    args.length_penalty = dec.opts.llm.length_penalty  # likewise decode.length_penalty
    args.max_tokens_per_frame = dec.opts.llm.max_tokens_per_frame  # likewise decode.max_tokens_per_frame
    args.split = dec.resolve_split(args.split) if args.long_form else args.split
    decode_dir = args.decode_dir or args.exp_dir / (
        f"decode_{set_name}_{args.method}" + (f"_{args.suffix}" if args.suffix else ""))
    info = {"set": set_name, "method": args.method, "suffix": settings_suffix(args, args.avg),
            "exp_dir": str(args.exp_dir), "epoch": args.epoch, "avg": args.avg, "cuts": str(args.cuts),
            "langid": args.langid, "long_form": args.long_form,
            "options": {k: getattr(args, k) for k in ("beam", "max_new_tokens", "max_tokens_per_frame",
                                                      "repetition_penalty", "length_penalty", "ctc_weight",
                                                      "ctc_candidates", "max_sym_per_frame", "split", "window",
                                                      "overlap", "script_mask", "ngram_weight", "ngram",
                                                      "word_penalty", "ctc_propose")}}
    writer = DecodeDirWriter(decode_dir, args.job_index, args.num_jobs, settings=info)

    cuts = CutSet.from_file(args.cuts).to_eager()
    ids = sorted(cuts.ids)
    mine = ids[args.job_index :: args.num_jobs]
    todo = [c for c in mine if c not in writer.done]
    log.info("job %d/%d: %d cuts, %d already decoded, %d to go -> %s", args.job_index, args.num_jobs,
             len(mine), len(mine) - len(todo), len(todo), decode_dir)
    if todo:
        decode_cuts(dec, cuts.subset(cut_ids=todo), writer, args.long_form, args.window, args.overlap,
                    args.max_duration, desc=f"decode {set_name} {args.method}", split=args.split)
    if not writer.finish(info):
        return 0
    if args.score:
        res = score_dir(decode_dir)
        log.info("%s: %s", decode_dir, wer_line(res.scores.word))
        if "langid_accuracy" in res.summary["decode_info"]:
            log.info("language-ID accuracy: %.2f%%", res.summary["decode_info"]["langid_accuracy"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
