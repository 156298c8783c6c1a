"""Word/character alignment and error counts.

Two aligners, chosen by name:
  - "sclite" (default): weighted Levenshtein with sclite's costs (ins 3, del 3, sub 4) and its
    tie-breaking (the diagonal when no worse than both others; then the deletion only if
    strictly cheaper than the insertion). Its counts equal `sclite`'s exactly,
    so our numbers can be checked against the reference scorer.
  - "kaldi": kaldialign's plain Levenshtein alignment, i.e. the numbers icefall prints.
Empty references are allowed: every hypothesis word is then an insertion.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import kaldialign
import numpy as np

EPS = "*"
SPACE = "<space>"  # the word boundary among character tokens
ALIGNERS = ("sclite", "kaldi")

# sclite's default weights (sclite/align.c: ins=3, del=3, sub=4, corr=0).
_INS, _DEL, _SUB = 3, 3, 4

Alignment = List[Tuple[str, str]]  # (ref, hyp) pairs; EPS marks a deletion/insertion side


@dataclass
class ErrorCounts:
    """Error counts of one or many utterances; add them with `+`."""

    ref_len: int = 0
    hyp_len: int = 0
    sub: int = 0
    dels: int = 0
    ins: int = 0
    num_utts: int = 0
    num_err_utts: int = 0

    @property
    def errors(self) -> int:
        return self.sub + self.dels + self.ins

    @property
    def corr(self) -> int:
        return self.ref_len - self.sub - self.dels

    @property
    def rate(self) -> float:
        """Error rate in percent; with no reference words, 0 if no errors else 100 per error word."""
        return 100.0 * self.errors / self.ref_len if self.ref_len else 100.0 * self.errors

    @property
    def ins_rate(self) -> float:
        return 100.0 * self.ins / self.ref_len if self.ref_len else 100.0 * self.ins

    def __add__(self, other: "ErrorCounts") -> "ErrorCounts":
        return ErrorCounts(
            self.ref_len + other.ref_len,
            self.hyp_len + other.hyp_len,
            self.sub + other.sub,
            self.dels + other.dels,
            self.ins + other.ins,
            self.num_utts + other.num_utts,
            self.num_err_utts + other.num_err_utts,
        )

    def as_dict(self) -> dict:
        return {
            "rate": round(self.rate, 4),
            "errors": self.errors,
            "ref_len": self.ref_len,
            "hyp_len": self.hyp_len,
            "corr": self.corr,
            "sub": self.sub,
            "del": self.dels,
            "ins": self.ins,
            "ins_rate": round(self.ins_rate, 4),
            "num_utts": self.num_utts,
            "num_err_utts": self.num_err_utts,
        }


def _align_sclite(ref: Sequence[str], hyp: Sequence[str]) -> Alignment:
    n, m = len(ref), len(hyp)
    ids: dict = {}
    r = np.array([ids.setdefault(w, len(ids)) for w in ref], dtype=np.int64)
    h = np.array([ids.setdefault(w, len(ids)) for w in hyp], dtype=np.int64)
    # back[i, j]: 0 diagonal, 1 deletion, 2 insertion. One numpy pass per reference word (long-form
    # recordings have thousands of words, tens of thousands of characters).
    back = np.zeros((n + 1, m + 1), dtype=np.int8)
    back[0, 1:] = 2
    back[1:, 0] = 1
    ramp = _INS * np.arange(m + 1, dtype=np.int64)
    prev = ramp.copy()
    for i in range(1, n + 1):
        diag = prev[:-1] + _SUB * (h != r[i - 1])
        dele = prev[1:] + _DEL
        tmp = np.empty(m + 1, dtype=np.int64)
        tmp[0] = prev[0] + _DEL
        tmp[1:] = np.minimum(diag, dele)
        # insertions chain along the row: row[j] = min_k<=j tmp[k] + INS*(j-k), a running minimum
        row = np.minimum.accumulate(tmp - ramp) + ramp
        ins = row[:-1] + _INS
        # sclite's order on ties (net_dp.c): the diagonal if no worse than both, else the deletion
        # only if strictly better than the insertion
        back[i, 1:] = np.where((diag <= dele) & (diag <= ins), 0, np.where(dele < ins, 1, 2))
        prev = row
    out: Alignment = []
    i, j = n, m
    while i > 0 or j > 0:
        step = back[i, j]
        if step == 0:
            out.append((ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif step == 1:
            out.append((ref[i - 1], EPS))
            i -= 1
        else:
            out.append((EPS, hyp[j - 1]))
            j -= 1
    out.reverse()
    return out


def align(ref: Sequence[str], hyp: Sequence[str], aligner: str = "sclite") -> Alignment:
    """Align two token sequences; returns (ref, hyp) pairs with EPS on the missing side."""
    if aligner == "sclite":
        return _align_sclite(ref, hyp)
    if aligner == "kaldi":
        return [tuple(p) for p in kaldialign.align(list(ref), list(hyp), EPS)]
    raise ValueError(f"unknown aligner {aligner!r}; choose from {ALIGNERS}")


def count_errors(alignment: Alignment) -> ErrorCounts:
    """Counts of one utterance from its alignment."""
    c = ErrorCounts(num_utts=1)
    for r, h in alignment:
        if r == EPS:
            c.ins += 1
            c.hyp_len += 1
        elif h == EPS:
            c.dels += 1
            c.ref_len += 1
        else:
            c.ref_len += 1
            c.hyp_len += 1
            c.sub += r != h
    c.num_err_utts = int(c.errors > 0)
    return c


def words(text: str) -> List[str]:
    return text.split()


def chars(text: str) -> List[str]:
    """Character tokens for CER: code points, with a space as its own token "<space>" (ESPnet's way)."""
    return [SPACE if ch == " " else ch for ch in " ".join(text.split())]
