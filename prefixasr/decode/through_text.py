"""Scorers of the project's units (the encoder CTC's prefix score, the n-gram LM) in an LLM's search whose tokens are
not those units (a pretrained LLM with its own tokenizer: data/vocab.py).

Each candidate token is scored by the units its text adds: the hypothesis's text with the token, encoded in units,
minus the units of the hypothesis's text without it. With character units that is the token's own characters (a
word's "▁" included); a unit tokenizer whose encoding of a longer text is not an extension of the shorter one's (a
BPE merging across the join) is scored from the start again for that candidate, so the score is always that of the
hypothesis's whole text. EOS scores the end of the transcript. The search sees the same reorder/score/select
protocol as from the scorers themselves.
"""
from __future__ import annotations

from typing import Any, List, Optional

import torch

from prefixasr.data.vocab import Vocabularies


class ThroughText:
    """`scorer` (a CtcPrefixScorer or NgramScorer over units, one row per search row) scoring the LLM's tokens."""

    def __init__(self, scorer: Any, vocabs: Vocabularies, eos_id: int) -> None:
        self.scorer, self.vocabs, self.eos_id = scorer, vocabs, eos_id
        rows = _num_rows(scorer)
        self.tokens: List[List[int]] = [[] for _ in range(rows)]  # each row's LLM tokens so far
        self.units: List[List[int]] = [[] for _ in range(rows)]  # ... and the units of their text
        self._pending: Optional[tuple] = None

    def reorder(self, rows: torch.Tensor) -> None:
        self.scorer.reorder(rows)
        idx = rows.tolist()
        self.tokens, self.units = [self.tokens[i] for i in idx], [self.units[i] for i in idx]

    def score(self, cands: torch.Tensor) -> torch.Tensor:
        """(N, C) candidate LLM tokens -> (N, C) log-score increments of the units their text adds."""
        n, c = cands.shape
        rows, labels, restart, units = [], [], [], []
        for i, row in enumerate(cands.tolist()):
            for tok in row:
                new = self.units[i] if tok == self.eos_id else self.vocabs.llm_to_units(self.tokens[i] + [tok])
                extends = new[: len(self.units[i])] == self.units[i]
                rows.append(i)
                labels.append(new[len(self.units[i]):] if extends else new)
                restart.append(not extends)
                units.append(new)
        device = cands.device
        extended, gain = self.scorer.extend(torch.tensor(rows, dtype=torch.long, device=device), labels,
                                            torch.tensor(restart, dtype=torch.bool, device=device))
        gain = gain.to(device).reshape(n, c)
        ends = cands == self.eos_id
        if bool(ends.any()):
            gain = torch.where(ends, self.scorer.end_gain().to(device)[:, None].expand(n, c), gain)
        self._pending = (extended, cands.tolist(), units, c)
        return gain

    def select(self, rows: torch.Tensor, cols: torch.Tensor) -> None:
        """Row i becomes row `rows[i]` extended by its candidate in column `cols[i]` of the last `score` call."""
        extended, cands, units, c = self._pending
        flat = (rows * c + cols).tolist()
        extended.reorder(torch.tensor(flat, dtype=torch.long, device=rows.device))
        self.scorer = extended
        self.tokens = [self.tokens[r] + [cands[r][k]] for r, k in zip(rows.tolist(), cols.tolist())]
        self.units = [units[f] for f in flat]
        self._pending = None


def _num_rows(scorer: Any) -> int:
    return int(scorer.psi.size(0)) if hasattr(scorer, "psi") else int(scorer.hist.shape[0])
