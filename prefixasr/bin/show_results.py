"""Collect every scored decode dir of an experiment tree into RESULTS.md with per-language bar charts.

Usage:
  python -m prefixasr.bin.show_results --exp-root egs/indic/exp --baseline prefixlm_ce --output egs/indic/RESULTS.md
  # the paper's comparison: relative changes against both the fine-tuned prefixLM and the frozen soft prompt
  python -m prefixasr.bin.show_results --exp-root egs/indic/exp --baseline ft_ce frozen_shared \
      --output egs/indic/RESULTS.md
  # ... and whether the paper's claims hold: paired bootstrap intervals, the LM's perplexity per language
  python -m prefixasr.bin.show_results --exp-root egs/indic/exp_systems --baseline ft_ce frozen_shared \
      --compare ft_ce:ft_ce_rnnt frozen_shared:frozen_langid_rnnt --lm-perplexity egs/indic/exp_systems/lm/perplexity.json \
      --output egs/indic/RESULTS_systems.md
  # three training runs of the small LM's system (seeds) against one of Gemma's, each side's mean
  python -m prefixasr.bin.show_results --exp-root egs/indic/exp8 --baseline small_lm \
      --compare small_lm+small_lm_seed1+small_lm_seed2:gemma --output egs/indic/RESULTS_gemma.md

Reads `<exp-root>/<system>/decode_<set>_<method>[_suffix]/scores.json` (run prefixasr.bin.score first).
Writes RESULTS.md (environment header; per test set a WER table and a CER table with a column per
language, the macro average "avg", the pooled "all", one "rel. vs <baseline>" column per --baseline
system with the relative change of "avg" against it (negative is better), and in the WER table the
hallucination shares; then a word insertion-rate table: insertions / reference words in % per language,
"avg" and "all", and the words split and joined by the hypothesis' spaces) and one PNG bar chart per test set
next to it (`<output stem>_<set>_wer.png`); then the training curves: each system's dev CER per epoch from
`<system>/history.json`, and their plot (`<output stem>_curves.png`).
With --compare BASE:SYSTEM, the relative WER and CER change of SYSTEM against BASE on every test set and decode
setting both have (else each with its own settings of the same search: its decode block's), with a paired
bootstrap 95% interval (prefixasr/scoring/effects.py) and a forest plot
(`<output stem>_effects.png`); a side written RUN+RUN+... (e.g. small_lm+small_lm_seed1:gemma) is several training
runs of one config (seeds), each utterance's errors their mean (as prefixasr.bin.compare's repeated --base); with
--lm-perplexity, the LM's held-out perplexity per language
(prefixasr.bin.lm_perplexity's JSON).
A baseline is a system (exp sub-directory) or system/setting; a row is compared with the baseline's
row of the same decode setting when there is one, else with the baseline's first row.
With --keep, hand-written sections of the file being replaced (its "## In short", say) stay under the preamble.
Exit status: 0 ok, 1 no scored decode dir found or an unknown baseline.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from prefixasr.common import atomic_write, setup_logging
from prefixasr.scoring.effects import (Comparison, effects_chart, effects_markdown, mean_over_runs, paired_bootstrap,
                                       utt_errors)
from prefixasr.scoring.results import (Row, bar_chart, collect, curves_chart, curves_markdown, markdown,
                                       perplexity_markdown, training_histories)

log = logging.getLogger("show_results")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, and the Usage docstring printed as written."""


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    g = p.add_argument_group("input/output")
    g.add_argument("--exp-root", type=Path, required=True, help="directory holding one sub-directory per system")
    g.add_argument("--output", type=Path, default=Path("RESULTS.md"), help="markdown file to write")
    g.add_argument("--preamble", default="",
                   help="markdown put under the title, e.g. the command that made the file and its wall time")
    g.add_argument("--keep", nargs="+", default=[], metavar="HEADING",
                   help="hand-written '## ' sections of the existing output whose headings start with HEADING "
                        "(e.g. 'In short') are kept, under the preamble; the rest of the file is made anew")
    g.add_argument("--no-charts", dest="charts", action="store_false", help="do not draw the PNG bar charts")
    t = p.add_argument_group("table")
    t.add_argument("--baseline", nargs="+", default=None, metavar="SYSTEM",
                   help="one or more systems (or system/setting) that relative changes are computed against; "
                        "one 'rel. vs SYSTEM' column each")
    t.add_argument("--compare", nargs="+", default=[], metavar="BASE:SYSTEM",
                   help="pairs of systems whose difference gets a paired bootstrap 95%% interval, per test set and "
                        "decode setting both have; a side may be RUN+RUN+...: training runs of one config, averaged")
    t.add_argument("--bootstrap-samples", type=int, default=2000, help="bootstrap replicates per comparison")
    t.add_argument("--lm-perplexity", type=Path, default=None,
                   help="JSON of prefixasr.bin.lm_perplexity: a per-language perplexity table")
    p.add_argument("--log-level", default="INFO", help="logging level")
    return p


def _search(setting: str) -> tuple[str, str]:
    """A decode setting's method and long-form split ("llm_beam_epoch-last_..._longform-pauses_..." ->
    ("llm_beam", "longform-pauses"))."""
    form = next((p for p in setting.split("_") if p.startswith("longform")), "")
    return setting.split("_epoch-")[0], form


def kept_sections(path: Path, headings: list[str]) -> str:
    """The '## ' sections of an earlier results file whose headings start with one of `headings`, as written
    (each runs to the next '## ' heading)."""
    if not headings or not path.is_file():
        return ""
    kept: list[str] = []
    keep = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            keep = line[3:].startswith(tuple(headings))
        if keep:
            kept.append(line)
    return "\n".join(kept).strip()


def _runs_row(rows: list[Row], system: str, like: Row) -> Row | None:
    """`system`'s row of `like`'s test set and decode setting (another training run of `like`'s config)."""
    return next((x for x in rows if x.system == system and x.set_name == like.set_name and x.setting == like.setting),
                None)


def comparisons(rows: list[Row], pairs: list[str], num_samples: int) -> list[Comparison]:
    """One Comparison per pair, test set, decode setting (or search) both systems have, and unit (WER, CER). A side
    written RUN1+RUN2+... is several training runs of one config: each utterance's errors are their mean, where every
    run has the row (else that row is skipped, with a warning)."""
    out = []
    for pair in pairs:
        base_side, _, system_side = pair.partition(":")
        base, *base_more = base_side.split("+")
        system, *system_more = system_side.split("+")
        for r in rows:
            if r.system != system:
                continue
            same = [x for x in rows if x.system == base and x.set_name == r.set_name]
            # the same settings; else the same search, each system with its own decode block's settings
            b = next((x for x in same if x.setting == r.setting), None) or next(
                (x for x in same if _search(x.setting) == _search(r.setting)), None)
            if b is None:
                continue
            base_rows = [b] + [_runs_row(rows, s, b) for s in base_more]
            system_rows = [r] + [_runs_row(rows, s, r) for s in system_more]
            names = [base, *base_more, system, *system_more]
            missing = [s for s, x in zip(names, base_rows + system_rows) if x is None]
            if missing:
                log.warning("%s vs %s on %s skipped: %s decoded no %s with those settings", r.name, b.name,
                            r.set_name, ", ".join(missing), r.set_name)
                continue
            for unit in ("word", "char"):
                effects = paired_bootstrap(
                    mean_over_runs([utt_errors(x.path, unit) for x in base_rows], [x.system for x in base_rows]),
                    mean_over_runs([utt_errors(x.path, unit) for x in system_rows], [x.system for x in system_rows]),
                    num_samples)
                out.append(Comparison(b.name, r.name, r.set_name, unit, effects,
                                      tuple(base_side.split("+")) if base_more else (),
                                      tuple(system_side.split("+")) if system_more else ()))
    return out


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    rows = collect(args.exp_root)
    if not rows:
        log.error("%s: no */decode_*/scores.json found (run prefixasr.bin.score first)", args.exp_root)
        return 1
    bad = [p for p in args.compare if p.count(":") != 1]
    if bad:
        log.error("--compare takes BASE:SYSTEM pairs, got %s", " ".join(bad))
        return 1
    named = [n for p in args.compare for side in p.split(":") for n in side.split("+")]
    unknown = [b for b in (args.baseline or []) + named if not any(b in (r.system, r.name) for r in rows)]
    if unknown:
        log.error("baseline %s not among the systems: %s", ", ".join(map(repr, unknown)),
                  sorted({r.name for r in rows}))
        return 1
    charts = {}
    if args.charts:
        for set_name in sorted({r.set_name for r in rows}):
            png = args.output.with_name(f"{args.output.stem}_{set_name}_wer.png")
            bar_chart(rows, set_name, png)
            charts[set_name] = png.name
    histories = training_histories(args.exp_root)
    curves_png = None
    if args.charts and histories:
        curves_png = args.output.with_name(f"{args.output.stem}_curves.png")
        curves_chart(histories, curves_png)
    kept = kept_sections(args.output, args.keep)
    if args.keep and not kept and args.output.is_file():
        log.warning("%s has no section headed %s to keep", args.output, " or ".join(map(repr, args.keep)))
    preamble = "\n\n".join(p for p in (args.preamble.strip(), kept) if p)
    text = markdown(rows, args.baseline, charts, repo_dir=Path(__file__).resolve().parent, preamble=preamble)
    try:
        comps = comparisons(rows, args.compare, args.bootstrap_samples)
    except ValueError as err:
        log.error("%s", err)
        return 1
    effects_png = None
    if args.charts and comps:
        effects_png = args.output.with_name(f"{args.output.stem}_effects.png")
        effects_chart(comps, effects_png)
    text += "\n".join(effects_markdown(comps, effects_png.name if effects_png else None))
    if args.lm_perplexity:
        text += "\n".join(perplexity_markdown(json.loads(args.lm_perplexity.read_text(encoding="utf-8"))))
    text += "\n".join(curves_markdown(histories, curves_png.name if curves_png else None))
    with atomic_write(args.output) as f:
        f.write(text)
    log.info("wrote %s (%d decode dirs, %d charts)", args.output, len(rows), len(charts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
