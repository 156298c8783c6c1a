"""Speech prefix projector: stack k encoder frames, then a 2-layer MLP into the LLM's width."""
from __future__ import annotations

import torch
from torch import nn


class FrameStackProjector(nn.Module):
    """(B, T, C) -> (B, ceil(T/k), D): concatenates k consecutive frames (SLAM-LLM style).

    Padded encoder frames are zero, so the last partial stack is the same in a batch as alone.
    """

    def __init__(self, input_dim: int, output_dim: int, stack: int = 2, hidden_dim: int = 512) -> None:
        super().__init__()
        self.stack = stack
        self.mlp = nn.Sequential(
            nn.Linear(input_dim * stack, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, output_dim),
        )

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return (lengths + self.stack - 1) // self.stack

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, c = x.shape
        pad = (-t) % self.stack
        if pad:
            x = torch.nn.functional.pad(x, (0, 0, 0, pad))
        x = x.reshape(b, (t + pad) // self.stack, c * self.stack)
        return self.mlp(x), self.output_lengths(lengths)
