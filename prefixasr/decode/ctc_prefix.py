"""The CTC prefix score of a growing hypothesis (Watanabe et al., "Hybrid CTC/attention architecture for
end-to-end speech recognition", 2017; ESPnet's `CTCPrefixScoreTH`): the probability under the encoder CTC
that the audio's transcript *starts with* the hypothesis. Joint decoding adds its increments to the LLM's
token scores, so the LLM cannot write a character the audio does not hold (insertions, loops) nor stop
before the audio's characters are all written (EOS scores the whole-transcript probability).

The search scores the LLM's tokens with it directly when they are the CTC's labels (one character model shared by
both, `--bpe_type char`), and through their text otherwise (`through_text.py`, which calls `extend`/`end_gain`).
Scores are in nats; log zero is a large negative number, so differences never become NaN.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch

LOG_ZERO = -1e10


class CtcPrefixScorer:
    """Prefix scores for the rows of a search (hypotheses), each row reading one utterance's CTC posteriors.

    State per row: r (T, 2), the log-probabilities that the row's prefix has been read by frame t ending in a
    non-blank [0] or blank [1] frame; psi, the prefix score; the last label (-1 for the empty prefix).
    """

    def __init__(self, log_probs: torch.Tensor, lens: torch.Tensor, blank_id: int, eos_id: int,
                 unwritable: Sequence[int] = ()):
        """log_probs: (B, T, V) CTC log-posteriors, one row per hypothesis; lens: (B,) valid frames.
        `unwritable`: labels the CTC never writes (BOS, padding): their prefix score is log zero. EOS is never one:
        it scores the whole transcript."""
        b, t, _ = log_probs.shape
        x = log_probs.float().clone()
        pad = torch.arange(t, device=x.device)[None, :] >= lens[:, None]  # past the end: blank with prob. 1
        x[pad] = LOG_ZERO
        x[..., blank_id] = torch.where(pad, torch.zeros_like(x[..., blank_id]), x[..., blank_id])
        self.x, self.blank_id, self.eos_id = x, blank_id, eos_id
        self.unwritable = torch.tensor(sorted({blank_id, *unwritable} - {eos_id}), dtype=torch.long, device=x.device)
        self.r = torch.full((b, t, 2), LOG_ZERO, device=x.device)
        self.r[..., 1] = x[..., blank_id].cumsum(1)  # the empty prefix: blanks only
        self.psi = torch.zeros(b, device=x.device)
        self.last = torch.full((b,), -1, dtype=torch.long, device=x.device)
        self._pending = None

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep the rows `rows` (index into the current rows), e.g. to expand a batch into beams."""
        self.x, self.r, self.psi, self.last = self.x[rows], self.r[rows], self.psi[rows], self.last[rows]

    def score(self, cands: torch.Tensor) -> torch.Tensor:
        """(N, C) candidate labels per row -> (N, C) log prefix-score increments psi(row + c) - psi(row);
        for EOS, the whole transcript's log-probability instead of psi(row + c). Call `select` next."""
        n, t, _ = self.x.shape
        c = cands.size(1)
        xs = self.x.gather(2, cands.clamp(min=0)[:, None, :].expand(n, t, c))  # (N, T, C)
        xb = self.x[..., self.blank_id]  # (N, T)
        r_sum = torch.logaddexp(self.r[..., 0], self.r[..., 1])  # (N, T)
        # a repeated label needs a blank in between: only the paths ending in blank can go on to it
        same = (cands == self.last[:, None])[:, None, :]
        phi = torch.where(same, self.r[..., 1, None], r_sum[..., None])  # (N, T, C)
        start = torch.where((self.last < 0)[:, None], xs[:, 0], torch.full_like(xs[:, 0], LOG_ZERO))
        r = torch.full((t, n, c, 2), LOG_ZERO, device=xs.device)
        r[0, ..., 0] = start
        for k in range(1, t):
            r[k, ..., 0] = torch.logaddexp(r[k - 1, ..., 0], phi[:, k - 1]) + xs[:, k]
            r[k, ..., 1] = torch.logaddexp(r[k - 1, ..., 0], r[k - 1, ..., 1]) + xb[:, k, None]
        psi = torch.logsumexp(torch.cat([start[:, None], phi[:, :-1] + xs[:, 1:]], 1), dim=1)  # (N, C)
        final = r_sum[:, -1, None].expand(n, c)  # padding frames are blank: the last frame holds the end
        psi = torch.where(cands == self.eos_id, final, psi)
        psi = torch.where(torch.isin(cands, self.unwritable), torch.full_like(psi, LOG_ZERO), psi).clamp(min=LOG_ZERO)
        self._pending = (cands, r, psi)
        return psi - self.psi[:, None]

    def select(self, rows: torch.Tensor, cols: torch.Tensor) -> None:
        """The new rows: row `rows[i]` extended by its candidate `cols[i]` of the last `score` call."""
        cands, r, psi = self._pending
        self.x = self.x[rows]
        self.r = r[:, rows, cols].transpose(0, 1).contiguous()
        self.psi, self.last = psi[rows, cols], cands[rows, cols]
        self._pending = None

    def continuations(self, max_labels: int = 24) -> List[List[int]]:
        """Each row's next labels as the CTC reads them: its best path collapsed, from the frame after the one
        where the row's prefix most likely ends (the peak of r, which holds through the blanks after a prefix's
        last label and falls at the next label's frame). A label repeated across that frame is not read twice.
        The search proposes what these say when the LLM's own best tokens miss it (llm_search.py)."""
        best = self.x.argmax(-1)  # (N, T)
        ends = torch.logaddexp(self.r[..., 0], self.r[..., 1]).argmax(1)  # (N,)
        out: List[List[int]] = []
        for path, end, last in zip(best.tolist(), ends.tolist(), self.last.tolist()):
            prev, labels = (path[end], []) if last >= 0 else (self.blank_id, [])
            for lab in path[end + 1 if last >= 0 else 0:]:
                if lab != prev and lab != self.blank_id:
                    labels.append(lab)
                    if len(labels) == max_labels:
                        break
                prev = lab
            out.append(labels)
        return out

    def proposals(self) -> List[int]:
        """Each row's next label by the CTC's best path (-1 where it reads nothing more): the LLM's token itself
        when the two share one vocabulary."""
        return [c[0] if c else -1 for c in self.continuations(1)]

    # ---- sequences of labels (the LLM's tokens scored through their text: through_text.py) ----------------------
    def _rows(self, idx: torch.Tensor, from_root: Optional[torch.Tensor] = None) -> "CtcPrefixScorer":
        """A scorer over rows `idx` of this one; rows where `from_root` is set start again from the empty prefix."""
        out = object.__new__(CtcPrefixScorer)
        out.blank_id, out.eos_id, out.unwritable, out._pending = self.blank_id, self.eos_id, self.unwritable, None
        out.x, out.r, out.psi, out.last = self.x[idx], self.r[idx].clone(), self.psi[idx].clone(), self.last[idx].clone()
        if from_root is not None and bool(from_root.any()):
            root = from_root.to(out.x.device)
            out.r[root, :, 0] = LOG_ZERO
            out.r[root, :, 1] = out.x[root][..., self.blank_id].cumsum(1)
            out.psi[root], out.last[root] = 0.0, -1
        return out

    def extend(self, rows: torch.Tensor, labels: List[List[int]],
               from_root: Optional[torch.Tensor] = None) -> Tuple["CtcPrefixScorer", torch.Tensor]:
        """Row `rows[k]` extended by the labels `labels[k]` (from the empty prefix where `from_root[k]`): the
        extended rows as a new scorer, and their log prefix-score increments over the source rows."""
        out = self._rows(rows, from_root)
        base = self.psi[rows]
        for j in range(max((len(seq) for seq in labels), default=0)):
            active = [k for k, seq in enumerate(labels) if len(seq) > j]
            idx = torch.tensor(active, dtype=torch.long, device=self.x.device)
            part = out._rows(idx)
            part.score(torch.tensor([[labels[k][j]] for k in active], dtype=torch.long, device=self.x.device))
            part.select(torch.arange(len(active), device=self.x.device), torch.zeros_like(idx))
            out.r[idx], out.psi[idx], out.last[idx] = part.r, part.psi, part.last
        return out, out.psi - base

    def end_gain(self) -> torch.Tensor:
        """(N,) log-probability of each row's prefix being the whole transcript, over its prefix score (EOS)."""
        return torch.logaddexp(self.r[:, -1, 0], self.r[:, -1, 1]) - self.psi
