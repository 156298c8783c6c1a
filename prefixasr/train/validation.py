"""Validation CER during training, the per-epoch history and its learning-curve plot.

After each epoch the trainer decodes a fixed dev subset (evenly spread over the dev set, so every
language is in it) with every greedy search the system has (LLM, RNN-T, character CTC) and scores
it like the scoring stage does (same normalisation, same CER). Users see a model learn before they
decode; the per-epoch table ends train.log, `history.json` keeps it, `learning_curve.png` plots it.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from prefixasr.common import PathLike, atomic_write
from prefixasr.decode.runner import DecodeOptions, available_greedy_methods
from prefixasr.scoring.align import ErrorCounts, align, chars, count_errors


def dev_subset(cuts: Any, max_utts: int) -> Any:
    """At most `max_utts` cuts, evenly spaced over `cuts` (dev sets are ordered by language)."""
    from lhotse import CutSet

    cuts = list(cuts)
    if max_utts <= 0 or len(cuts) <= max_utts:
        return CutSet.from_cuts(cuts)
    step = len(cuts) / max_utts
    return CutSet.from_cuts(cuts[int(k * step)] for k in range(max_utts))


@torch.no_grad()
def greedy_cer(model: Any, cuts: Any, vocabs: Any, lang_map: Any, device: torch.device | str = "cpu",
               max_duration: float = 100.0, extractor: Any = None) -> Dict[str, float]:
    """{"<method>": CER %} over `cuts` for each greedy search of `model` (oracle language for prompts), decoded
    by the decode stage's own Decoder so the figures mean what the decode dirs' CER means. `vocabs`: the system's
    Vocabularies (data/vocab.py). `extractor`: features computed from audio with it (on the fly), else stored ones."""
    from prefixasr.data.datamodule import AsrDataModule, unpack_batch
    from prefixasr.decode.decoder import Decoder
    from prefixasr.model import LoadedModel

    loaded = LoadedModel(model=model, config={}, tokenizer=vocabs.llm, lang_map=lang_map, char_tokenizer=vocabs.chars,
                         units=vocabs.units)
    decoders = {m: Decoder(loaded, DecodeOptions(method=m), device=str(device)) for m in available_greedy_methods(model)}
    errors = {m: ErrorCounts() for m in decoders}
    dm = AsrDataModule(max_duration=max_duration, num_workers=0, world_size=1, rank=0, shuffle=False,
                       on_the_fly_feats=extractor is not None, extractor=extractor)
    was_training = model.training
    model.eval()
    for raw in dm.valid_dataloader(cuts):
        batch = unpack_batch(raw)
        for method, dec in decoders.items():
            for rec in dec.segments(batch):
                errors[method] += count_errors(align(chars(rec["ref"]), chars(rec["hyp"])))
    model.train(was_training)
    return {m: round(100.0 * e.errors / max(e.ref_len, 1), 2) for m, e in errors.items()}


class History:
    """One row per validation: epoch, step, minutes of training, train/valid losses, dev CER per method."""

    def __init__(self, rows: Optional[List[Dict[str, Any]]] = None) -> None:
        self.rows: List[Dict[str, Any]] = list(rows or [])

    def add(self, row: Dict[str, Any]) -> None:
        self.rows = [r for r in self.rows if r["epoch"] != row["epoch"]] + [row]

    def columns(self) -> List[str]:
        seen: List[str] = []
        for r in self.rows:
            seen += [k for k in r if k not in seen]
        return seen

    def table(self) -> str:
        """A markdown table (what ends train.log)."""
        cols = self.columns()
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in self.rows:
            lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
        return "\n".join(lines)

    def save(self, path: PathLike) -> None:
        with atomic_write(path) as f:
            json.dump(self.rows, f, indent=1)
            f.write("\n")

    @classmethod
    def load(cls, path: PathLike) -> "History":
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f))

    def plot(self, path: PathLike, title: str = "") -> None:
        """Dev CER per method (left axis) and validation losses (right axis) against epochs."""
        if not self.rows:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        epochs = [r["epoch"] for r in self.rows]
        fig, ax = plt.subplots(figsize=(6.5, 4.0))
        for c in (c for c in self.columns() if c.startswith("cer_")):
            ax.plot(epochs, [r.get(c) for r in self.rows], marker="o", label=c[4:])
        ax.set_xlabel("epoch")
        ax.set_ylabel("dev CER (%)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax2 = ax.twinx()
        for c in (c for c in self.columns() if c.startswith("valid_")):
            ax2.plot(epochs, [r.get(c) for r in self.rows], linestyle="--", alpha=0.6, label=c)
        ax2.set_ylabel("validation loss (dashed)")
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize="small", loc="upper right")
        ax.set_title(title or "learning curve")
        fig.tight_layout()
        tmp = Path(path).with_suffix(".tmp.png")
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        tmp.replace(path)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def log_table(history: History) -> None:
    logging.info("per-epoch history (dev CER in %%, losses per token; encoder_ctc per character):\n%s",
                 history.table())
