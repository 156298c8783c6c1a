"""Collect the scores.json of every decode dir in an experiment tree into RESULTS.md and bar charts.

Tree: `<exp_root>/<system>/decode_<set>_<method>[_suffix]/scores.json` (what prefixasr.bin.score writes).
One table per test set: a row per (system, decode setting), a column per language (WER, CER below it),
the macro average over languages ("avg"), the pooled figure ("all"), and one column per baseline system
with the relative change of the average WER (CER) against it; then a word insertion-rate table
(insertions / reference words, per language, "avg" and "all"; then the split and joined words).
"""
from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import json
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from prefixasr.common import PathLike


@dataclass
class Row:
    system: str
    setting: str  # method + suffix, e.g. "llm_beam_beam-4"
    set_name: str
    per_lang_wer: Dict[str, float]
    per_lang_cer: Dict[str, float]
    all_wer: float
    all_cer: float
    long_hyp_pct: float
    loop_pct: float
    num_utts: int
    lid_acc: Optional[float] = None  # language-ID accuracy of the LID head (systems with one)
    per_lang_ins: Optional[Dict[str, float]] = None  # word insertion rate (%) per language; None: not in scores.json
    all_ins: Optional[float] = None  # pooled word insertion rate (%)
    split_pct: Optional[float] = None  # spaces written inside reference words, per reference word (%), pooled
    joined_pct: Optional[float] = None  # reference spaces dropped, per reference word (%), pooled
    path: str = ""  # its scores.json

    @property
    def avg_wer(self) -> float:
        v = list(self.per_lang_wer.values())
        return sum(v) / len(v) if v else float("nan")

    @property
    def avg_cer(self) -> float:
        v = list(self.per_lang_cer.values())
        return sum(v) / len(v) if v else float("nan")

    @property
    def avg_ins(self) -> float:
        v = list((self.per_lang_ins or {}).values())
        return sum(v) / len(v) if v else float("nan")

    @property
    def name(self) -> str:
        return f"{self.system}/{self.setting}" if self.setting else self.system


def _ins_rate(counts: dict) -> Optional[float]:
    """Insertions / reference words in %, from one as_dict() block; None when the counts are absent."""
    if "ins" not in counts or "ref_len" not in counts:
        return None
    ins, ref_len = counts["ins"], counts["ref_len"]
    return 100.0 * ins / ref_len if ref_len else 100.0 * ins  # ErrorCounts.ins_rate's convention


def collect(exp_root: PathLike) -> List[Row]:
    rows = []
    for p in sorted(Path(exp_root).glob("*/decode_*/scores.json")):
        js = json.loads(p.read_text(encoding="utf-8"))
        per = js["per_lang"]
        per_ins = {k: _ins_rate(v["wer"]) for k, v in per.items()}
        rows.append(Row(
            system=p.parent.parent.name,
            setting=js.get("suffix", ""),
            set_name=js.get("set", p.parent.name),
            per_lang_wer={k: v["wer"]["rate"] for k, v in per.items()},
            per_lang_cer={k: v["cer"]["rate"] for k, v in per.items()},
            all_wer=js["wer"]["rate"],
            all_cer=js["cer"]["rate"],
            long_hyp_pct=js["hallucination"]["long_hyp_pct"],
            loop_pct=js["hallucination"]["loop_pct"],
            num_utts=js["wer"]["num_utts"],
            lid_acc=js.get("decode_info", {}).get("langid_accuracy"),
            per_lang_ins=None if None in per_ins.values() else per_ins,
            all_ins=_ins_rate(js["wer"]),
            split_pct=js["hallucination"].get("split_words_pct"),  # absent from older scores.json
            joined_pct=js["hallucination"].get("joined_words_pct"),
            path=str(p),
        ))
    return rows


def _version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def environment_header(repo_dir: Optional[PathLike] = None) -> List[str]:
    """ESPnet-style environment block: date, versions, git hash, pruned RNN-T backend."""
    try:
        git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True, text=True)
        git_hash = git.stdout.strip() if git.returncode == 0 else "unknown (no commit)"
    except FileNotFoundError:
        git_hash = "unknown (git absent)"
    backend = next((m for m in ("k2", "fast_rnnt") if importlib.util.find_spec(m)), "none")
    return [
        "## Environments",
        f"- date: `{datetime.datetime.now().astimezone().strftime('%a %b %d %H:%M:%S %Z %Y')}`",
        f"- python version: `{platform.python_version()}` on `{platform.platform()}`",
        f"- torch version: `{_version('torch')}`, transformers `{_version('transformers')}`, "
        f"lhotse `{_version('lhotse')}`, kaldialign `{_version('kaldialign')}`",
        f"- pruned RNN-T backend: `{backend}`",
        f"- Git hash: `{git_hash}`",
        "",
    ]


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def _baselines(baseline: Union[None, str, Sequence[str]]) -> List[str]:
    if not baseline:
        return []
    return [baseline] if isinstance(baseline, str) else list(dict.fromkeys(b for b in baseline if b))


def _rel(x: float, base: Optional[float]) -> str:
    return "-" if base is None or base == 0 else f"{100 * (x / base - 1):+.1f}%"


def _baseline_row(rows: List[Row], baseline: Optional[str], row: Row) -> Optional[Row]:
    if not baseline:
        return None
    cands = [r for r in rows if baseline in (r.system, r.name)]
    same = [r for r in cands if r.setting == row.setting]
    return (same or cands or [None])[0]


def markdown(rows: List[Row], baseline: Union[None, str, Sequence[str]] = None,
             charts: Optional[Dict[str, str]] = None, repo_dir: Optional[PathLike] = None,
             preamble: str = "") -> str:
    """RESULTS.md text. `baseline`: one system name or several; each gets a "rel. vs <name>" column.
    `preamble`: markdown put under the title (how the file was made)."""
    bases = _baselines(baseline)
    against = ", ".join(f"`{b}`" for b in bases)
    lines = ["# RESULTS", ""] + ([preamble.strip(), ""] if preamble.strip() else []) + environment_header(repo_dir)
    for set_name in sorted({r.set_name for r in rows}):
        srows = [r for r in rows if r.set_name == set_name]
        langs = sorted({lang for r in srows for lang in r.per_lang_wer})
        for metric in ("WER", "CER"):
            lines += [f"## {set_name}: {metric} (%)", ""]
            if bases:
                lines += [f"Relative change of the average {metric} against {against} (negative is better).", ""]
            head = ["system"] + langs + ["avg", "all"]
            if bases:
                head += [f"rel. vs {b}" for b in bases]
            elif metric == "WER":
                head += ["rel. vs base"]  # empty column, as without baselines before
            if metric == "WER":
                head += ["long hyp %", "loops %", "LID acc %", "#utts"]
            lines += ["|" + "|".join(head) + "|", "|" + "|".join("---" for _ in head) + "|"]
            for r in srows:
                per = r.per_lang_wer if metric == "WER" else r.per_lang_cer
                avg = r.avg_wer if metric == "WER" else r.avg_cer
                cells = [r.name] + [_fmt(per[lang]) if lang in per else "-" for lang in langs]
                cells += [_fmt(avg), _fmt(r.all_wer if metric == "WER" else r.all_cer)]
                for b in bases:
                    base = _baseline_row(srows, b, r)
                    cells.append(_rel(avg, None if base is None else
                                      (base.avg_wer if metric == "WER" else base.avg_cer)))
                if not bases and metric == "WER":
                    cells.append("-")
                if metric == "WER":
                    lid = "-" if r.lid_acc is None else _fmt(r.lid_acc)
                    cells += [_fmt(r.long_hyp_pct), _fmt(r.loop_pct), lid, str(r.num_utts)]
                lines.append("|" + "|".join(cells) + "|")
            lines.append("")
        lines += [f"## {set_name}: word insertion rate (%)", "",
                  "Inserted words / reference words; avg is the macro average over languages, all is pooled. "
                  "Word boundaries, pooled, per reference word: split = spaces written inside a reference word "
                  "(each makes a word insertion with nothing hallucinated), joined = reference spaces dropped.", ""]
        head = ["system"] + langs + ["avg", "all", "split", "joined"]
        lines += ["|" + "|".join(head) + "|", "|" + "|".join("---" for _ in head) + "|"]
        for r in srows:
            ins = r.per_lang_ins
            cells = [r.name] + [_fmt(ins[lang]) if ins and lang in ins else "-" for lang in langs]
            cells += ["-" if ins is None else _fmt(r.avg_ins), "-" if r.all_ins is None else _fmt(r.all_ins)]
            cells += ["-" if x is None else _fmt(x) for x in (r.split_pct, r.joined_pct)]
            lines.append("|" + "|".join(cells) + "|")
        lines.append("")
        if charts and set_name in charts:
            lines += [f"![per-language WER on {set_name}]({charts[set_name]})", ""]
    return "\n".join(lines)


def bar_chart(rows: List[Row], set_name: str, out_png: PathLike) -> None:
    """Grouped bars: per-language WER (plus the average), one colour per system."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    srows = [r for r in rows if r.set_name == set_name]
    langs = sorted({lang for r in srows for lang in r.per_lang_wer}) + ["avg"]
    width = 0.8 / max(len(srows), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(langs) * max(1, len(srows)) ** 0.5), 4.0))
    for i, r in enumerate(srows):
        vals = [r.per_lang_wer.get(lang, 0.0) for lang in langs[:-1]] + [r.avg_wer]
        ax.bar([x + i * width for x in range(len(langs))], vals, width, label=r.name)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(langs))], langs)
    ax.set_ylabel("WER (%)")
    ax.set_title(f"Per-language WER: {set_name}")
    ax.legend(fontsize="small")
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(out_png).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(out_png)


def perplexity_markdown(js: dict) -> List[str]:
    """The LM's held-out perplexity per language (prefixasr.bin.lm_perplexity's JSON)."""
    lines = ["## LM: held-out perplexity per language", "",
             f"`{js['lm']}` on the transcripts of `{js['cuts']}` (sentences the LM never trained on), per token; "
             "bits per character compare LMs whose tokens differ.", "",
             "|language|perplexity|bits/char|tokens|sentences|", "|---|---|---|---|---|"]

    def bpc(v: dict) -> str:
        return _fmt(v["bits_per_char"]) if "bits_per_char" in v else "-"  # older JSON files have none

    for lang, v in js["per_lang"].items():
        lines.append(f"|{lang}|{_fmt(v['perplexity'])}|{bpc(v)}|{v['tokens']}|{v['sentences']}|")
    lines += [f"|all|{_fmt(js['all']['perplexity'])}|{bpc(js['all'])}|{js['all']['tokens']}||", ""]
    return lines


def training_histories(exp_root: PathLike) -> Dict[str, List[dict]]:
    """{system: per-epoch rows} from every `<exp_root>/<system>/history.json` the trainer wrote."""
    out = {}
    for path in sorted(Path(exp_root).glob("*/history.json")):
        with open(path, encoding="utf-8") as f:
            out[path.parent.name] = json.load(f)
    return out


def curves_markdown(histories: Dict[str, List[dict]], chart: Optional[str] = None) -> List[str]:
    """The "training curves" section: dev CER per epoch of every system (what the trainer measured)."""
    if not histories:
        return []
    lines = ["## Training curves: dev CER (%) after each epoch (greedy, dev subset)", ""]
    for system, rows in histories.items():
        methods = [k for k in rows[0] if k.startswith("cer_")] if rows else []
        head = ["epoch", "minutes"] + [m[4:] for m in methods]
        lines += [f"`{system}`", "", "|" + "|".join(head) + "|", "|" + "|".join("---" for _ in head) + "|"]
        for r in rows:
            lines.append("|" + "|".join([str(r["epoch"]), _fmt(r.get("minutes", 0.0))]
                                        + [_fmt(r[m]) if r.get(m) is not None else "-" for m in methods]) + "|")
        lines.append("")
    if chart:
        lines += [f"![dev CER per epoch]({chart})", ""]
    return lines


def curves_chart(histories: Dict[str, List[dict]], out_png: PathLike) -> None:
    """Dev CER against training minutes: one colour per system, one line style per greedy search, the legend
    beside the axes (a comparison has a dozen systems and three searches each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"llm_greedy": "-", "rnnt_greedy": "--", "ctc_greedy": ":"}
    colours = plt.get_cmap("tab20").colors
    lines = {system: [m for m in rows[0] if m.startswith("cer_")] if rows else [] for system, rows in histories.items()}
    # tall enough for the legend's column of lines
    fig, ax = plt.subplots(figsize=(10.0, max(4.5, 1.0 + 0.2 * sum(map(len, lines.values())))))
    for k, (system, rows) in enumerate(histories.items()):
        for m in lines[system]:
            ax.plot([r.get("minutes", r["epoch"]) for r in rows], [r.get(m) for r in rows], marker="o", markersize=3,
                    color=colours[k % len(colours)], linestyle=styles.get(m[4:], "-."), label=f"{system} {m[4:]}")
    ax.set_xlabel("training minutes")
    ax.set_ylabel("dev CER (%)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.set_title("Learning curves")
    fig.tight_layout()
    tmp = Path(out_png).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(out_png)
