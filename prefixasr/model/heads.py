"""Small auxiliary heads on the encoder side: CTC (over the speech prefix, or over the encoder output with
character units), language ID."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CtcHead(nn.Module):
    """linear(frames) -> log-probs over vocab (+blank); loss summed over the batch.

    Used twice: on the speech prefix over the LLM's tokens (`model.ctc`), and on the encoder output over
    characters (`model.encoder_ctc`, the pre-training objective: a from-scratch encoder learns characters
    at 40 ms within minutes where 1000 shared word pieces at 80 ms stay on the blank plateau;
    docs/convergence.md).
    """

    def __init__(self, input_dim: int, num_classes: int, blank_id: int) -> None:
        super().__init__()
        self.proj = nn.Linear(input_dim, num_classes)
        self.blank_id = blank_id

    def forward(self, prefix: torch.Tensor) -> torch.Tensor:
        return self.proj(prefix).float().log_softmax(-1)

    def loss(self, frames: torch.Tensor, lens: torch.Tensor, targets: list[list[int]]) -> torch.Tensor:
        log_probs = self(frames).transpose(0, 1)  # (T, B, V)
        flat = torch.tensor([t for seq in targets for t in seq], dtype=torch.long, device=frames.device)
        target_lens = torch.tensor([len(t) for t in targets], dtype=torch.long, device=frames.device)
        return F.ctc_loss(
            log_probs, flat, lens, target_lens, blank=self.blank_id, reduction="sum", zero_infinity=True
        )

    @torch.no_grad()
    def greedy(self, frames: torch.Tensor, lens: torch.Tensor) -> list[tuple[list[int], list[int]]]:
        """Best path, repeats merged and blanks dropped: per utterance (tokens, emission frames)."""
        return ctc_best_path(self.proj(frames).argmax(-1), lens, self.blank_id)


def ctc_best_path(labels: torch.Tensor, lens: torch.Tensor, blank_id: int) -> list[tuple[list[int], list[int]]]:
    """What a CTC's best frame labels (B, T) say, repeats merged and blanks dropped: per row (tokens, their frames)."""
    out = []
    for row, n in zip(labels.tolist(), lens.tolist()):
        toks, frames_of = [], []
        prev = blank_id
        for t, s in enumerate(row[:n]):
            if s != blank_id and s != prev:
                toks.append(s)
                frames_of.append(t)
            prev = s
        out.append((toks, frames_of))
    return out


class LanguageIdHead(nn.Module):
    """Mean-pooled encoder output over valid frames -> language logits."""

    def __init__(self, input_dim: int, num_languages: int, hidden_dim: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, num_languages))

    def forward(self, enc: torch.Tensor, enc_lens: torch.Tensor) -> torch.Tensor:
        # encoder output is zero on padded frames, so a sum / length is the masked mean
        pooled = enc.sum(1) / enc_lens.clamp(min=1)[:, None].to(enc.dtype)
        return self.net(pooled)
