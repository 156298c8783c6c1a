"""Score decode directories: WER/CER (per utterance, per language, overall) and hallucination figures.

Usage:
  python -m prefixasr.bin.score exp/frozen_rnnt/decode_test_llm_greedy [more decode dirs ...]
  python -m prefixasr.bin.score --aligner kaldi --no-normalize exp/*/decode_test_*

Each decode dir must hold `text` (utt hyp) and `ref` (utt ref), and usually `utt2lang` (utt lang);
prefixasr.bin.decode writes all three. Both sides are normalised with
prefixasr.data.text.normalize_text(text, lang) unless --no-normalize. Written into the decode dir:
  recogs-<set>-<suffix>.txt  icefall ref=/hyp= pairs
  errs-<set>-<suffix>.txt    icefall error report (PER-UTT DETAILS, SUBSTITUTIONS, ... PER-WORD STATS)
  wer-summary-<set>-<suffix>.txt  icefall's `settings<TAB>WER` table
  wer, cer                   %WER x.xx [ E / N, I ins, D del, S sub ]  and  %SER
  ref.trn, hyp.trn           sclite trn (word level), ref_char.trn, hyp_char.trn (character level)
  result.txt, result_char.txt  sclite's report (only when sclite / Debian `sctk` is installed)
  scores.json                per-language WER/CER, insertion rate, hallucination shares (for show_results)
Empty references are allowed (every hypothesis word is an insertion; rates use max(N,1) per utterance).
Utterances with no hypothesis are scored as empty and counted; hypotheses with no reference are skipped
and counted. The default aligner ("sclite") gives exactly sclite's counts; "kaldi" gives icefall's.
Exit status: 0 ok, 1 bad input (the message names the file and line).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from prefixasr.common import FormatError, setup_logging
from prefixasr.scoring.align import ALIGNERS
from prefixasr.scoring.formats import wer_line
from prefixasr.scoring.metrics import HallucinationConfig
from prefixasr.scoring.score_dir import score_dir

log = logging.getLogger("score")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, and the Usage docstring printed as written."""


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    io = p.add_argument_group("input/output")
    io.add_argument("decode_dirs", nargs="+", type=Path, help="decode directories to score")
    sc = p.add_argument_group("scoring")
    sc.add_argument("--aligner", choices=ALIGNERS, default="sclite",
                    help="sclite: sclite's weighted alignment (parity with sclite); kaldi: kaldialign (icefall)")
    sc.add_argument("--no-normalize", dest="normalize", action="store_false",
                    help="score the texts as they are, without prefixasr.data.text.normalize_text")
    sc.add_argument("--no-sclite", dest="use_sclite", action="store_false",
                    help="do not run sclite even when it is installed")
    h = p.add_argument_group("hallucination")
    h.add_argument("--long-ratio", type=float, default=1.5,
                   help="a hypothesis is 'long' when it has at least this many times the reference words ...")
    h.add_argument("--long-min-extra", type=int, default=3, help="... and at least this many extra words")
    h.add_argument("--max-ngram", type=int, default=4, help="longest n-gram checked for back-to-back loops")
    h.add_argument("--min-repeats", type=int, default=3,
                   help="an n-gram repeated back to back this many times (more than in the reference) is a loop")
    p.add_argument("--log-level", default="INFO", help="logging level")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    hcfg = HallucinationConfig(args.long_ratio, args.long_min_extra, args.max_ngram, args.min_repeats)
    for d in args.decode_dirs:
        try:
            res = score_dir(d, args.aligner, args.normalize, hcfg, args.use_sclite)
        except (FileNotFoundError, FormatError) as e:
            log.error("%s", e)
            return 1
        s = res.scores
        log.info("%s: %s | %s | %d utts, long-hyp %.2f%%, loops %.2f%%", d, wer_line(s.word, "WER"),
                 wer_line(s.char, "CER"), len(s.utts), s.hallucination["long_hyp_pct"],
                 s.hallucination["loop_pct"])
        for lang, c in s.per_lang_word.items():
            log.info("  %s: %s", lang, wer_line(c, "WER"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
