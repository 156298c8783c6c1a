"""Is a difference between two systems real? Paired bootstrap intervals for the relative WER (CER) change.

Both systems decoded the same utterances. Resampling utterances with replacement (within each language, so each
replicate keeps the test set's language mix) and scoring both systems on the same replicate gives the distribution
of their relative change (Koehn 2004; Bisani & Ney 2004). The change "holds" when its 95% interval excludes 0.
Per language the rate is pooled (errors / reference words, as the tables' language columns); "avg" is the macro
average over languages (the tables' avg column).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from prefixasr.common import PathLike

UNITS = {"word": 1, "char": 3}  # column of the reference length in scores.json's per_utt rows
METRIC = {"word": "WER", "char": "CER"}


@dataclass
class Effect:
    lang: str  # a language, or "avg"
    base: float  # the baseline's error rate (%)
    system: float  # the system's error rate (%)
    rel: float  # relative change (%): negative = fewer errors than the baseline
    low: float  # 95% interval of `rel`
    high: float
    num_utts: int

    @property
    def verdict(self) -> str:
        if self.high < 0:
            return "better"
        return "worse" if self.low > 0 else "no difference"


@dataclass
class Comparison:
    baseline: str  # row names (system/setting)
    system: str
    set_name: str
    unit: str  # word | char
    effects: List[Effect]
    base_runs: Tuple[str, ...] = ()  # the systems (training runs) averaged on each side, when more than one
    system_runs: Tuple[str, ...] = ()

    @property
    def avg(self) -> Effect:
        return self.effects[-1]

    @property
    def sides(self) -> str:
        """The tables' "system vs baseline" cell, each side with the runs it averages when more than one."""
        def side(name: str, runs: Tuple[str, ...]) -> str:
            return f"`{name}`" + (f" (mean of {len(runs)} runs: {', '.join(runs)})" if len(runs) > 1 else "")

        return f"{side(self.system, self.system_runs)} vs {side(self.baseline, self.base_runs)}"


def utt_errors(scores_json: PathLike, unit: str = "word") -> Dict[str, Tuple[str, int, int]]:
    """{utt: (lang, reference length, errors)} from a scores.json written by prefixasr.bin.score."""
    js = json.loads(Path(scores_json).read_text(encoding="utf-8"))
    if "per_utt" not in js:
        raise ValueError(f"{scores_json}: no per-utterance counts (scored by an older prefixasr: run "
                         f"prefixasr.bin.score on its decode dir again)")
    k = UNITS[unit]
    return {u: (v[0], int(v[k]), int(v[k + 1])) for u, v in js["per_utt"].items()}


def mean_over_runs(runs: Sequence[Dict[str, Tuple[str, int, float]]],
                   names: Sequence[str]) -> Dict[str, Tuple[str, int, float]]:
    """{utt: (lang, reference length, errors averaged over the runs)}: several training runs of one config (seeds)
    read as one system; every run must hold the same utterances (`names` name the runs in the error)."""
    for name, run in zip(names[1:], runs[1:]):
        if set(run) != set(runs[0]):
            odd = sorted(set(run) ^ set(runs[0]))
            raise ValueError(f"{name}: its run decoded other utterances than {names[0]}'s ({len(odd)} differ, "
                             f"e.g. {odd[0]})")
    return {u: (lang, n, sum(r[u][2] for r in runs) / len(runs)) for u, (lang, n, _) in runs[0].items()}


def _rel(system: np.ndarray, base: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100.0 * (system / base - 1.0)


def paired_bootstrap(base: Dict[str, Tuple[str, int, float]], system: Dict[str, Tuple[str, int, float]],
                     num_samples: int = 2000, seed: int = 0) -> List[Effect]:
    """Per-language effects, then the "avg" effect; both inputs must hold the same utterances ({utt: (lang,
    reference length, errors)}, the errors a count or a mean over runs)."""
    if set(base) != set(system):
        only = sorted(set(base) ^ set(system))
        raise ValueError(f"the two systems decoded different utterances ({len(only)} differ, e.g. {only[0]})")
    rng = np.random.default_rng(seed)
    langs = sorted({lang for lang, _, _ in base.values()})
    effects, rep_base, rep_sys, point_base, point_sys = [], [], [], [], []
    for lang in langs:
        utts = sorted(u for u, v in base.items() if v[0] == lang)
        ref = np.array([base[u][1] for u in utts], dtype=float)
        eb = np.array([base[u][2] for u in utts], dtype=float)
        es = np.array([system[u][2] for u in utts], dtype=float)
        idx = rng.integers(0, len(utts), size=(num_samples, len(utts)))
        words = np.maximum(ref[idx].sum(1), 1.0)
        rb, rs = 100.0 * eb[idx].sum(1) / words, 100.0 * es[idx].sum(1) / words
        b, s = 100.0 * eb.sum() / max(ref.sum(), 1.0), 100.0 * es.sum() / max(ref.sum(), 1.0)
        effects.append(_effect(lang, b, s, _rel(rs, rb), len(utts)))
        rep_base.append(rb)
        rep_sys.append(rs)
        point_base.append(b)
        point_sys.append(s)
    b, s = float(np.mean(point_base)), float(np.mean(point_sys))
    reps = _rel(np.mean(rep_sys, axis=0), np.mean(rep_base, axis=0))
    effects.append(_effect("avg", b, s, reps, len(base)))
    return effects


def _effect(lang: str, base: float, system: float, reps: np.ndarray, n: int) -> Effect:
    rel = 100.0 * (system / base - 1.0) if base > 0 else float("nan")
    finite = reps[np.isfinite(reps)]
    low, high = (np.percentile(finite, [2.5, 97.5]) if finite.size else (float("nan"), float("nan")))
    return Effect(lang, base, system, rel, float(low), float(high), n)


def effects_markdown(comparisons: Sequence[Comparison], chart: str | None = None) -> List[str]:
    """The "effects" section: one table per comparison, the verdicts first."""
    if not comparisons:
        return []
    lines = ["## Effects with paired bootstrap 95% intervals", "",
             "Relative change of the system's error rate against the baseline's on the same utterances (negative is "
             "better); the interval is the 2.5-97.5 percentile over bootstrap replicates of the utterances, resampled "
             "within each language. *better*/*worse*: the interval excludes 0.", "",
             "|set|system vs baseline|unit|avg baseline|avg system|rel. change|95% interval|holds?|",
             "|---|---|---|---|---|---|---|---|"]
    for c in comparisons:
        a = c.avg
        lines.append(f"|{c.set_name}|{c.sides}|{METRIC[c.unit]}|{a.base:.2f}|{a.system:.2f}|"
                     f"{a.rel:+.1f}%|[{a.low:+.1f}%, {a.high:+.1f}%]|{a.verdict}|")
    lines.append("")
    if chart:
        lines += [f"![effects with 95% intervals]({chart})", ""]
    lines += ["Per language:", "", "|set|system vs baseline|unit|language|baseline|system|rel. change|95% interval|"
              "holds?|#utts|", "|---|---|---|---|---|---|---|---|---|---|"]
    for c in comparisons:
        for e in c.effects[:-1]:
            lines.append(f"|{c.set_name}|{c.sides}|{METRIC[c.unit]}|{e.lang}|{e.base:.2f}|"
                         f"{e.system:.2f}|{e.rel:+.1f}%|[{e.low:+.1f}%, {e.high:+.1f}%]|{e.verdict}|{e.num_utts}|")
    lines.append("")
    return lines


def effect_label(c: Comparison) -> str:
    """A chart's name for a comparison: set, unit, the two systems and the system's search (one pair of systems
    is often compared with two searches, e.g. llm_beam and rnnt_greedy)."""
    system, _, setting = c.system.partition("/")
    search = setting.split("_epoch")[0]
    runs = f"runs {len(c.system_runs) or 1} vs {len(c.base_runs) or 1}" if c.system_runs or c.base_runs else ""
    note = ", ".join(x for x in (search, runs) if x)
    return f"{c.set_name} {METRIC[c.unit]}: {system} vs {c.baseline.split('/')[0]}" + (f" ({note})" if note else "")


def effects_chart(comparisons: Sequence[Comparison], out_png: PathLike) -> None:
    """Each comparison's average relative change with its 95% interval, one line each (a forest plot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(comparisons) + 1.5))
    for i, c in enumerate(comparisons):
        a = c.avg
        colour = {"better": "tab:green", "worse": "tab:red"}.get(a.verdict, "tab:grey")
        ax.errorbar(a.rel, i, xerr=[[a.rel - a.low], [a.high - a.rel]], fmt="o", color=colour, capsize=3)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(range(len(comparisons)), [effect_label(c) for c in comparisons], fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("relative change of the average error rate (%),\n95% paired bootstrap interval")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    tmp = Path(out_png).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(out_png)
