"""Small auxiliary heads on the encoder side: CTC over the speech prefix, language ID."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CtcHead(nn.Module):
    """linear(prefix) -> log-probs over vocab (+blank); loss summed over the batch."""

    def __init__(self, input_dim: int, num_classes: int, blank_id: int) -> None:
        super().__init__()
        self.proj = nn.Linear(input_dim, num_classes)
        self.blank_id = blank_id

    def forward(self, prefix: torch.Tensor) -> torch.Tensor:
        return self.proj(prefix).float().log_softmax(-1)

    def loss(self, prefix: torch.Tensor, prefix_lens: torch.Tensor, targets: list[list[int]]) -> torch.Tensor:
        log_probs = self(prefix).transpose(0, 1)  # (T, B, V)
        flat = torch.tensor([t for seq in targets for t in seq], dtype=torch.long, device=prefix.device)
        target_lens = torch.tensor([len(t) for t in targets], dtype=torch.long, device=prefix.device)
        return F.ctc_loss(
            log_probs, flat, prefix_lens, target_lens, blank=self.blank_id, reduction="sum", zero_infinity=True
        )


class LanguageIdHead(nn.Module):
    """Mean-pooled encoder output over valid frames -> language logits."""

    def __init__(self, input_dim: int, num_languages: int, hidden_dim: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, num_languages))

    def forward(self, enc: torch.Tensor, enc_lens: torch.Tensor) -> torch.Tensor:
        # encoder output is zero on padded frames, so a sum / length is the masked mean
        pooled = enc.sum(1) / enc_lens.clamp(min=1)[:, None].to(enc.dtype)
        return self.net(pooled)
