#!/usr/bin/env python3
"""Is system B better than system A? A paired bootstrap 95% interval of the relative WER and CER change between
two scored decode dirs, or between two pools of them (several test sets read as one larger set).

Usage:
    python -m prefixasr.bin.compare --base exp/ft_ce/decode_test_llm_beam_avg2 \\
        --system exp/ft_ce_rnnt/decode_test_llm_beam_avg2
    # pooled: test and dev120 as one set of 180 utterances, both systems; a JSON file for the notes
    python -m prefixasr.bin.compare \\
        --base exp6/small_lm/decode_test_llm_beam_avg2 exp6/small_lm/decode_dev120_llm_beam_avg2 \\
        --system exp6/gemma/decode_test_llm_beam_avg2 exp6/gemma/decode_dev120_llm_beam_avg2 \\
        --output exp6/gemma_vs_small_lm.json
    # several training runs of each system (seeds): the option once a run; each utterance's errors averaged
    python -m prefixasr.bin.compare \\
        --base exp8/small_lm/decode_test_llm_beam_avg2 --base exp8/small_lm_seed1/decode_test_llm_beam_avg2 \\
        --system exp8/gemma/decode_test_llm_beam_avg2 --system exp8/gemma_seed1/decode_test_llm_beam_avg2

Reads each dir's scores.json (prefixasr.bin.score). Both sides must hold the same utterances (an utterance id
found in two dirs of one run is an error). Two training runs of one config read a test set differently
(docs/convergence.md part 36), so a side may hold several runs: each utterance's errors are their mean, and the
interval is over the utterances given those runs (averaging narrows the runs' spread; it does not measure it).
Prints per language and "avg" (the macro average over languages, as the results tables): both rates, the relative
change (negative: the system makes fewer errors), its interval, and "better" / "worse" when the interval excludes
0. `show_results --compare` does the same for pairs of systems inside one experiment root; this tool compares any
two decode dirs (two exp roots, two decode settings).
Exit status: 0 ok, 1 a missing or unscored dir, or the two sides decoded different utterances.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from prefixasr.common import atomic_write, setup_logging
from prefixasr.scoring.effects import METRIC, UNITS, Effect, mean_over_runs, paired_bootstrap, utt_errors

log = logging.getLogger("compare")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("input/output")
    g.add_argument("--base", type=Path, nargs="+", action="append", required=True, metavar="DECODE_DIR",
                   help="the baseline's scored decode dir(s) of one run; several are pooled into one set; repeat the "
                        "option for more runs of the baseline (seeds), whose errors are averaged")
    g.add_argument("--system", type=Path, nargs="+", action="append", required=True, metavar="DECODE_DIR",
                   help="the compared system's scored decode dir(s), the same utterances as --base; repeated as "
                        "--base")
    g.add_argument("--output", type=Path, default=None, help="also write the effects as JSON here")
    g = p.add_argument_group("bootstrap")
    g.add_argument("--bootstrap-samples", type=int, default=2000, help="bootstrap replicates (default: 2000)")
    g.add_argument("--seed", type=int, default=0, help="random seed of the replicates (default: 0)")
    p.add_argument("--log-level", default="INFO", help="logging level")
    return p


def pooled_errors(dirs: Sequence[Path], unit: str) -> Dict[str, Tuple[str, int, int]]:
    """{utt: (lang, reference length, errors)} over the scores.json of several decode dirs."""
    out: Dict[str, Tuple[str, int, int]] = {}
    for d in dirs:
        scores = d / "scores.json"
        if not scores.is_file():
            raise FileNotFoundError(f"{scores}: not found (score the decode dir first: python -m "
                                    f"prefixasr.bin.score {d})")
        part = utt_errors(scores, unit)
        twice = sorted(set(part) & set(out))
        if twice:
            raise ValueError(f"{d}: utterance {twice[0]} is also in an earlier dir of the same side "
                             f"({len(twice)} shared); pool dirs of different sets only")
        out.update(part)
    return out


def mean_errors(runs: Sequence[Sequence[Path]], unit: str) -> Dict[str, Tuple[str, int, float]]:
    """{utt: (lang, reference length, errors averaged over the runs)}; every run must hold the same utterances."""
    return mean_over_runs([pooled_errors(dirs, unit) for dirs in runs], [str(dirs[0]) for dirs in runs])


def compare(base: Sequence[Sequence[Path]], system: Sequence[Sequence[Path]], num_samples: int = 2000,
            seed: int = 0) -> Dict[str, List[Effect]]:
    """{"word": effects, "char": effects}, each per language and then "avg" (prefixasr.scoring.effects); `base` and
    `system` are lists of runs, each run a list of decode dirs pooled into one set."""
    return {unit: paired_bootstrap(mean_errors(base, unit), mean_errors(system, unit), num_samples, seed)
            for unit in UNITS}


def table(effects: Dict[str, List[Effect]]) -> List[str]:
    lines = [f"{'unit':4} {'lang':5} {'#utts':>5} {'base':>7} {'system':>7} {'change':>8}  {'95% interval':18} verdict"]
    for unit, rows in effects.items():
        for e in rows:
            lines.append(f"{METRIC[unit]:4} {e.lang:5} {e.num_utts:5d} {e.base:7.2f} {e.system:7.2f} {e.rel:+7.1f}%  "
                         f"[{e.low:+6.1f}, {e.high:+6.1f}]%  {e.verdict}")
    return lines


def main(argv: List[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        effects = compare(args.base, args.system, args.bootstrap_samples, args.seed)
    except (FileNotFoundError, ValueError) as err:
        log.error("%s", err)
        return 1
    if len(args.base) > 1 or len(args.system) > 1:
        print(f"base: the mean of {len(args.base)} run(s); system: the mean of {len(args.system)} run(s)")
    print("\n".join(table(effects)))
    if args.output:
        js = {"base": [[str(d) for d in run] for run in args.base],
              "system": [[str(d) for d in run] for run in args.system],
              "bootstrap_samples": args.bootstrap_samples,
              **{METRIC[u]: [asdict(e) | {"verdict": e.verdict} for e in rows] for u, rows in effects.items()}}
        with atomic_write(args.output) as f:
            json.dump(js, f, indent=2)
        log.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
