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


def ctc_compress(frames: torch.Tensor, lens: torch.Tensor, labels: torch.Tensor,
                 blank_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """CTC compression (Gaido et al. 2021; the CTC prompts of Tsunoo et al. 2024): drop the frames whose best
    CTC label is blank and average each run of frames sharing one non-blank label, so the LLM reads about one
    vector per character instead of 25 frames a second of mostly blank. (B, T, D), (B,), (B, T) best labels ->
    (B, S, D), (B,). A row with no non-blank frame keeps one vector, the mean of all its frames."""
    b, t, _ = frames.shape
    valid = torch.arange(t, device=frames.device)[None, :] < lens[:, None]
    keep = valid & (labels != blank_id)
    empty = ~keep.any(1)
    keep = torch.where(empty[:, None], valid, keep)
    prev = torch.nn.functional.pad(labels, (1, 0), value=blank_id)[:, :-1]
    prev_kept = torch.nn.functional.pad(keep, (1, 0), value=False)[:, :-1]
    starts = keep & ~(prev_kept & (labels == prev))  # a kept frame that does not continue the previous run
    starts = starts | (empty[:, None] & (torch.arange(t, device=frames.device)[None, :] == 0))
    seg = starts.long().cumsum(1) - 1  # run index of every frame (meaningful where kept)
    out_lens = starts.sum(1)
    width = int(out_lens.max()) if b else 0
    idx = torch.where(keep, seg, torch.full_like(seg, width))  # dropped frames go to a spill column
    out = frames.new_zeros(b, width + 1, frames.size(-1)).scatter_add(1, idx[..., None].expand_as(frames), frames)
    count = frames.new_zeros(b, width + 1).scatter_add(1, idx, keep.to(frames.dtype))
    return out[:, :width] / count[:, :width, None].clamp(min=1), out_lens


def append_rows(x: torch.Tensor, x_lens: torch.Tensor, y: torch.Tensor,
                y_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows [x_i[:x_lens_i] y_i[:y_lens_i]] packed to the left and zero-padded: (B, max(x_lens + y_lens), D)."""
    lens = x_lens + y_lens
    col = torch.arange(int(lens.max()), device=x.device)[None, :].expand(x.size(0), -1)
    src = torch.cat([x, y.to(x.dtype)], dim=1)
    idx = torch.where(col < x_lens[:, None], col, x.size(1) + col - x_lens[:, None])  # y's cells follow x's width
    valid = col < lens[:, None]
    idx = torch.where(valid, idx, torch.zeros_like(idx))
    out = src.gather(1, idx[..., None].expand(-1, -1, src.size(-1)))
    return out * valid[..., None].to(out.dtype), lens
