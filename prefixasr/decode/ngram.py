"""A token n-gram LM (interpolated Kneser-Ney) for shallow fusion in the LLM's search (ESPnet's `ngram_weight`).

The LLM of the demo is a few-million-parameter model trained for minutes: it has read a fraction of the LM text
once, and it is the LM text's words that say where a word ends (docs/convergence.md, W1). Counting n-grams of the
same text takes seconds and remembers all of it. Built over the LLM's own token ids (a character model in the
recipe), so its scores add to the LLM's candidates directly; `<s>` pads a sentence's start and `</s>` ends it.

Storage: for each order n, the sorted codes of the seen n-grams with their discounted probability mass, and the
sorted codes of their contexts with the backoff weight; an n-gram's code packs its token ids in `bits` bits each
(so the order times the bits must fit in 62 bits: a 6-gram over up to 1,024 tokens). Queries are vectorised
binary searches (`numpy.searchsorted`).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from prefixasr.common import PathLike, atomic_write

log = logging.getLogger("ngram")
FORMAT_VERSION = 1


class NgramLM:
    """P(w | h) by interpolated Kneser-Ney with one discount per order (Chen & Goodman 1998)."""

    def __init__(self, order: int, vocab_size: int, bos_id: int, eos_id: int, tables: Dict[str, np.ndarray]):
        self.order, self.vocab_size, self.bos_id, self.eos_id = order, vocab_size, bos_id, eos_id
        self.bits = _bits(vocab_size)
        self.tables = tables  # gram_<n>, prob_<n>, ctx_<n>, backoff_<n> for n = 1..order

    # ---- building -------------------------------------------------------------------------------------
    @classmethod
    def train(cls, sentences: Sequence[Sequence[int]], order: int, vocab_size: int, bos_id: int,
              eos_id: int) -> "NgramLM":
        """Count every n-gram of `sentences` (token ids, without `<s>`/`</s>`) and smooth the counts."""
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        bits = _bits(vocab_size)
        if order * bits > 62:
            raise ValueError(f"a {order}-gram over {vocab_size} tokens needs {order * bits} bits per code (max 62): "
                             f"lower the order")
        pad = order - 1
        stream, targets, pos = [], [], 0
        for ids in sentences:
            row = [bos_id] * pad + [int(i) for i in ids] + [eos_id]
            stream.append(row)
            targets.append(np.arange(pos + pad, pos + len(row)))
            pos += len(row)
        if not stream:
            raise ValueError("no sentences to count")
        arr = np.concatenate([np.asarray(r, dtype=np.int64) for r in stream])
        where = np.concatenate(targets)
        if arr.max() >= vocab_size or arr.min() < 0:
            raise ValueError(f"token ids must lie in [0, {vocab_size}); got {arr.min()}..{arr.max()}")
        tables: Dict[str, np.ndarray] = {}
        # the highest order counts occurrences; a lower order counts the distinct tokens seen before it
        # (its continuation count), which is what a backed-off estimate should reflect (Kneser & Ney 1995)
        top = np.zeros(len(where), dtype=np.int64)
        for j in range(order):
            top = (top << bits) | arr[where - (order - 1 - j)]
        grams, counts = np.unique(top, return_counts=True)
        for n in range(order, 0, -1):
            if n < order:  # continuation counts from the distinct (n+1)-grams found above
                grams, counts = np.unique(grams & _mask(n, bits), return_counts=True)
            tables.update(_smooth(n, grams, counts, bits))
        lm = cls(order, vocab_size, bos_id, eos_id, tables)
        log.info("%d-gram LM over %d tokens: %s n-grams from %d sentences, %d tokens", order, vocab_size,
                 "/".join(str(len(tables[f"gram_{n}"])) for n in range(1, order + 1)), len(stream), len(where))
        return lm

    def save(self, path: PathLike) -> None:
        meta = np.array([FORMAT_VERSION, self.order, self.vocab_size, self.bos_id, self.eos_id], dtype=np.int64)
        with atomic_write(path, "wb") as f:
            np.savez(f, meta=meta, **self.tables)

    @classmethod
    def load(cls, path: PathLike) -> "NgramLM":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"n-gram LM not found: {path} (written by prefixasr.bin.train_ngram)")
        with np.load(path) as z:
            version, order, vocab, bos, eos = (int(v) for v in z["meta"])
            if version != FORMAT_VERSION:
                raise ValueError(f"{path}: n-gram format {version}, this prefixasr reads {FORMAT_VERSION}")
            tables = {k: z[k] for k in z.files if k != "meta"}
        return cls(order, vocab, bos, eos, tables)

    # ---- scoring -----------------------------------------------------------------------------------------
    def start(self) -> List[int]:
        """The history of an empty sentence."""
        return [self.bos_id] * (self.order - 1)

    def logprob(self, histories: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """(N, order-1) histories (oldest first) and (N, C) tokens -> (N, C) natural-log probabilities."""
        n_rows, c = tokens.shape
        toks = np.asarray(tokens, dtype=np.int64)
        bad = (toks < 0) | (toks >= self.vocab_size)
        toks = np.where(bad, 0, toks)
        p = np.full((n_rows, c), 1.0 / self.vocab_size)
        ctx = np.zeros(n_rows, dtype=np.int64)
        for n in range(1, self.order + 1):
            if n > 1:  # the context grows by one older token
                ctx = ctx | (np.asarray(histories[:, self.order - n], dtype=np.int64) << (self.bits * (n - 2)))
            found, backoff = _lookup(self.tables[f"ctx_{n}"], self.tables[f"backoff_{n}"], ctx)
            gram = (ctx[:, None] << self.bits) | toks
            _, mass = _lookup(self.tables[f"gram_{n}"], self.tables[f"prob_{n}"], gram)
            p = np.where(found[:, None], mass + backoff[:, None] * p, p)
        return np.where(bad, -1e4, np.log(np.maximum(p, 1e-30)))

    def sentence_logprob(self, ids: Sequence[int]) -> float:
        """log P(ids </s>): for tests and perplexity."""
        hist, total = self.start(), 0.0
        for t in list(ids) + [self.eos_id]:
            total += float(self.logprob(np.asarray([hist[-(self.order - 1):] if self.order > 1 else []]),
                                        np.asarray([[t]]))[0, 0])
            hist = hist + [int(t)]
        return total


class NgramScorer:
    """The n-gram's scores for the rows of a search, with the same reorder/score/select protocol as
    `CtcPrefixScorer`: each row keeps its last order-1 tokens."""

    def __init__(self, lm: NgramLM, rows: int):
        self.lm = lm
        self.hist = np.tile(np.asarray(lm.start(), dtype=np.int64), (rows, 1))

    def reorder(self, rows: torch.Tensor) -> None:
        self.hist = self.hist[rows.cpu().numpy()]

    def score(self, cands: torch.Tensor) -> torch.Tensor:
        """(N, C) candidate tokens -> (N, C) log-probabilities given each row's history. Call `select` next."""
        self._cands = cands.cpu().numpy().astype(np.int64)
        out = self.lm.logprob(self.hist, self._cands)
        return torch.as_tensor(out, dtype=torch.float32, device=cands.device)

    def select(self, rows: torch.Tensor, cols: torch.Tensor) -> None:
        """Row i becomes row `rows[i]` extended by its candidate in column `cols[i]` of the last `score` call."""
        r = rows.cpu().numpy()
        hist = self.hist[r]
        new = self._cands[r, cols.cpu().numpy()][:, None]
        self.hist = np.concatenate([hist, new], axis=1)[:, 1:] if hist.shape[1] else hist


    # ---- sequences of tokens (the LLM's tokens scored through their text: through_text.py) ----------------------
    def extend(self, rows: torch.Tensor, labels: List[List[int]],
               from_root: Optional[torch.Tensor] = None) -> Tuple["NgramScorer", torch.Tensor]:
        """Row `rows[k]` extended by the tokens `labels[k]` (from the sentence start where `from_root[k]`): the
        extended rows as a new scorer, and the log-probabilities of those tokens given each row's history."""
        out = object.__new__(NgramScorer)
        out.lm, out.hist = self.lm, self.hist[rows.cpu().numpy()].copy()
        if from_root is not None:
            out.hist[from_root.cpu().numpy()] = np.asarray(self.lm.start(), dtype=np.int64)
        gain = np.zeros(len(labels))
        for j in range(max((len(seq) for seq in labels), default=0)):
            active = np.asarray([k for k, seq in enumerate(labels) if len(seq) > j], dtype=np.int64)
            toks = np.asarray([[labels[k][j]] for k in active], dtype=np.int64)
            gain[active] += self.lm.logprob(out.hist[active], toks)[:, 0]
            if out.hist.shape[1]:
                out.hist[active] = np.concatenate([out.hist[active], toks], axis=1)[:, 1:]
        return out, torch.as_tensor(gain, dtype=torch.float32, device=rows.device)

    def end_gain(self) -> torch.Tensor:
        """(N,) log-probability of the sentence end after each row's history."""
        eos = np.full((self.hist.shape[0], 1), self.lm.eos_id, dtype=np.int64)
        return torch.as_tensor(self.lm.logprob(self.hist, eos)[:, 0], dtype=torch.float32)


def _bits(vocab_size: int) -> int:
    return max(1, int(vocab_size - 1).bit_length())


def _mask(n: int, bits: int) -> np.int64:
    return np.int64((1 << (bits * n)) - 1)


def _smooth(n: int, grams: np.ndarray, counts: np.ndarray, bits: int) -> Dict[str, np.ndarray]:
    """Order n's tables from its (sorted, unique) n-gram codes and their counts."""
    n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
    discount = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
    ctx = grams >> bits  # codes sorted by context first: each context's n-grams are one run
    contexts, first, types = np.unique(ctx, return_index=True, return_counts=True)
    totals = np.add.reduceat(counts.astype(np.float64), first)
    prob = (np.maximum(counts - discount, 0.0) / np.repeat(totals, types)).astype(np.float32)
    backoff = (discount * types / totals).astype(np.float32)
    return {f"gram_{n}": grams, f"prob_{n}": prob, f"ctx_{n}": contexts, f"backoff_{n}": backoff}


def _lookup(keys: np.ndarray, values: np.ndarray, queries: np.ndarray):
    """(found, value or 0) of each query in the sorted `keys`."""
    idx = np.searchsorted(keys, queries)
    idx = np.minimum(idx, len(keys) - 1)
    found = keys[idx] == queries
    return found, np.where(found, values[idx], 0.0)
