"""Scorers of the project's units (the encoder CTC's prefix score, the n-gram LM) in an LLM's search whose tokens are
not those units (a pretrained LLM with its own tokenizer: data/vocab.py).

Each candidate token is scored by the units its text adds: the hypothesis's text with the token, encoded in units,
minus the units of the hypothesis's text without it. With character units that is the token's own characters (a
word's "▁" included); a unit tokenizer whose encoding of a longer text is not an extension of the shorter one's (a
BPE merging across the join) is scored from the start again for that candidate, so the score is always that of the
hypothesis's whole text. EOS scores the end of the transcript. The search sees the same reorder/score/select
protocol as from the scorers themselves, and the CTC's proposals (`proposals`) as LLM tokens.
"""
from __future__ import annotations

from typing import Any, List, Optional

import torch

from prefixasr.data.vocab import Vocabularies
from prefixasr.decode.ctc_prefix import LOG_ZERO


class ThroughText:
    """`scorer` (a CtcPrefixScorer or NgramScorer over units, one row per search row) scoring the LLM's tokens."""

    def __init__(self, scorer: Any, vocabs: Vocabularies, eos_id: int) -> None:
        self.scorer, self.vocabs, self.eos_id = scorer, vocabs, eos_id
        rows = _num_rows(scorer)
        self.tokens: List[List[int]] = [[] for _ in range(rows)]  # each row's LLM tokens so far
        self.units: List[List[int]] = [[] for _ in range(rows)]  # ... and the units of their text
        self.idle = [False] * rows  # whether the row's last token added no units (whitespace)
        self._pending: Optional[tuple] = None

    def reorder(self, rows: torch.Tensor) -> None:
        self.scorer.reorder(rows)
        idx = rows.tolist()
        self.tokens, self.units = [self.tokens[i] for i in idx], [self.units[i] for i in idx]
        self.idle = [self.idle[i] for i in idx]

    def score(self, cands: torch.Tensor) -> torch.Tensor:
        """(N, C) candidate LLM tokens -> (N, C) log-score increments of the units their text adds."""
        n, c = cands.shape
        rows, labels, restart, units, stalls = [], [], [], [], []
        for i, row in enumerate(cands.tolist()):
            for tok in row:
                new = self.units[i] if tok == self.eos_id else self.vocabs.llm_to_units(self.tokens[i] + [tok])
                extends = new[: len(self.units[i])] == self.units[i]
                rows.append(i)
                labels.append(new[len(self.units[i]):] if extends else new)
                restart.append(not extends)
                units.append(new)
                stalls.append(tok != self.eos_id and self.idle[i] and new == self.units[i])
        device = cands.device
        extended, gain = self.scorer.extend(torch.tensor(rows, dtype=torch.long, device=device), labels,
                                            torch.tensor(restart, dtype=torch.bool, device=device))
        # a second token in a row that adds no units (whitespace after whitespace) is not what the audio holds: the
        # units cannot see it, and an LLM would otherwise write spaces at no cost to its token limit
        gain = gain.to(device).masked_fill(torch.tensor(stalls, device=device), LOG_ZERO).reshape(n, c)
        ends = cands == self.eos_id
        if bool(ends.any()):
            gain = torch.where(ends, self.scorer.end_gain().to(device)[:, None].expand(n, c), gain)
        self._pending = (extended, cands.tolist(), units, c)
        return gain

    def proposals(self) -> List[int]:
        """Each row's next LLM token by the CTC's best path (-1 where it reads nothing more): the row's text with the
        units the CTC reads next, in the LLM's tokens; the token after the row's own where that encoding extends
        them, else the first token of the added text alone."""
        out = []
        for toks, units, ahead in zip(self.tokens, self.units, self.scorer.continuations()):
            if not ahead:
                out.append(-1)
                continue
            said, text = self.vocabs.units.decode(units), self.vocabs.units.decode(units + ahead)
            full = self.vocabs.llm.encode(text)
            if len(full) > len(toks) and full[: len(toks)] == toks:
                out.append(full[len(toks)])
                continue
            added = self.vocabs.llm.encode(text[len(said):]) if text.startswith(said) else []
            out.append(added[0] if added else -1)
        return out

    def select(self, rows: torch.Tensor, cols: torch.Tensor) -> None:
        """Row i becomes row `rows[i]` extended by its candidate in column `cols[i]` of the last `score` call."""
        extended, cands, units, c = self._pending
        flat = (rows * c + cols).tolist()
        extended.reorder(torch.tensor(flat, dtype=torch.long, device=rows.device))
        self.scorer = extended
        self.tokens = [self.tokens[r] + [cands[r][k]] for r, k in zip(rows.tolist(), cols.tolist())]
        self.idle = [units[f] == self.units[r] for f, r in zip(flat, rows.tolist())]
        self.units = [units[f] for f in flat]
        self._pending = None


def _num_rows(scorer: Any) -> int:
    return int(scorer.psi.size(0)) if hasattr(scorer, "psi") else int(scorer.hist.shape[0])
