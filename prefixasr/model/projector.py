"""Speech prefix projector: stack k encoder frames, then a 2-layer MLP into the LLM's width."""
from __future__ import annotations

import torch
from torch import nn


class FrameStackProjector(nn.Module):
    """(B, T, C) -> (B, ceil(T/k), D): concatenates k consecutive frames (SLAM-LLM style).

    Padded encoder frames are zero, so the last partial stack is the same in a batch as alone.
    """

    def __init__(self, input_dim: int, output_dim: int, stack: int = 2, hidden_dim: int = 512,
                 output_rms: float | None = None) -> None:
        super().__init__()
        self.stack = stack
        self.mlp = nn.Sequential(
            nn.Linear(input_dim * stack, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, output_dim),
        )
        # output_rms: a LayerNorm whose gain starts at the LLM's token-embedding RMS, so the prefix enters the
        # LLM at the scale its own inputs have (unnormalised, it starts ~10x larger and swamps the text);
        # applied by to_llm_scale on the LLM's side only
        self.norm = None
        if output_rms is not None:
            self.norm = nn.LayerNorm(output_dim)
            with torch.no_grad():
                self.norm.weight.fill_(output_rms)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return (lengths + self.stack - 1) // self.stack

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, c = x.shape
        pad = (-t) % self.stack
        if pad:
            x = torch.nn.functional.pad(x, (0, 0, 0, pad))
        x = x.reshape(b, (t + pad) // self.stack, c * self.stack)
        return self.mlp(x), self.output_lengths(lengths)

    def to_llm_scale(self, prefix: torch.Tensor) -> torch.Tensor:
        """The prefix at the LLM's embedding scale (identity without output_rms). Only the LLM's input goes
        through it: the RNN-T/CTC branches read the prefix as the projector made it."""
        return prefix if self.norm is None else self.norm(prefix)
