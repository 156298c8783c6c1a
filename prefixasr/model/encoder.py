"""Speech encoder: Conv2d subsampling (x4) followed by a Conformer.

Our own Conformer (not torchaudio's) because padded frames must never leak into valid ones:
the depthwise convolution sees zeros past each utterance's end and the convolution module uses
LayerNorm instead of BatchNorm, so a batch encodes exactly like its items one by one.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def lengths_to_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, max_len) bool, True on valid frames."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def subsampled_length(num_frames):
    """Frames (or frequency bins) after two stride-2 3x3 convolutions without padding: 10 ms -> 40 ms.
    The one definition of the encoder's frame rate (ints or LongTensors); the trainer's cut filter uses it."""
    return ((num_frames - 1) // 2 - 1) // 2


class Conv2dSubsampling(nn.Module):
    """Two stride-2 3x3 convolutions over (time, freq): 10 ms frames -> 40 ms frames.

    Valid output frames only see valid input frames (no padding in time), which keeps batching exact.
    """

    def __init__(self, input_dim: int, d_model: int, channels: int = 64) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, stride=2),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=2),
            nn.ReLU(),
        )
        freq = subsampled_length(input_dim)
        self.out = nn.Linear(channels * freq, d_model)

    @staticmethod
    def output_lengths(lengths: torch.Tensor) -> torch.Tensor:
        return subsampled_length(lengths)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv(x.unsqueeze(1))  # (B, C, T', F')
        b, c, t, f = x.shape
        x = self.out(x.transpose(1, 2).reshape(b, t, c * f))
        return x, self.output_lengths(lengths).clamp(min=0)


class FeedForward(nn.Module):
    def __init__(self, d_model: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(d_model),
            nn.Linear(d_model, ffn_dim),
            nn.SiLU(),
            # one dropout per residual branch: on CPU each mask costs as much as a small matmul
            nn.Linear(ffn_dim, d_model),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        assert d_model % num_heads == 0, "encoder d_model must be divisible by num_heads"
        self.num_heads = num_heads
        self.norm = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm(x)).view(b, t, 3, self.num_heads, d // self.num_heads).unbind(2)
        y = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=key_mask[:, None, None, :],
            dropout_p=self.dropout if self.training else 0.0,
        )
        return F.dropout(self.out(y.transpose(1, 2).reshape(b, t, d)), self.dropout, self.training)


class ConvModule(nn.Module):
    def __init__(self, d_model: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        assert kernel_size % 2 == 1, "conformer kernel_size must be odd"
        self.norm = nn.LayerNorm(d_model)
        self.pointwise1 = nn.Linear(d_model, 2 * d_model)
        self.depthwise = nn.Conv1d(d_model, d_model, kernel_size, padding=kernel_size // 2, groups=d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.pointwise2 = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = F.glu(self.pointwise1(self.norm(x)), dim=-1)
        y = y.masked_fill(~mask[..., None], 0.0)  # padded frames must not reach valid ones
        y = self.depthwise(y.transpose(1, 2)).transpose(1, 2)
        y = self.pointwise2(F.silu(self.norm2(y)))
        return self.dropout(y)


class ConformerLayer(nn.Module):
    """Macaron FFN / self-attention / convolution / FFN, pre-norm, final LayerNorm."""

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.ff1 = FeedForward(d_model, ffn_dim, dropout)
        self.attn = SelfAttention(d_model, num_heads, dropout)
        self.conv = ConvModule(d_model, kernel_size, dropout)
        self.ff2 = FeedForward(d_model, ffn_dim, dropout)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + 0.5 * self.ff1(x)
        x = x + self.attn(x, mask)
        x = x + self.conv(x, mask)
        x = x + 0.5 * self.ff2(x)
        return self.norm(x)


def utterance_cmvn(features: torch.Tensor, lens: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-utterance mean/variance normalisation of each fbank bin over its valid frames.

    Raw log-mel values sit far from zero with a speaker/channel offset; normalising per utterance
    (not per batch) keeps a batch exactly equal to its items, and padded frames stay zero.
    """
    mask = lengths_to_mask(lens, features.size(1)).unsqueeze(-1).to(features.dtype)
    n = lens.clamp(min=1).to(features.dtype)[:, None, None]
    mean = (features * mask).sum(1, keepdim=True) / n
    var = (((features - mean) * mask) ** 2).sum(1, keepdim=True) / n
    return (features - mean) * torch.rsqrt(var + eps) * mask


def sinusoidal_positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    inv = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * inv)
    pe[:, 1::2] = torch.cos(pos * inv[: dim // 2])
    return pe


class ConformerEncoder(nn.Module):
    """fbank (B, T, F) -> (B, T/4, d_model) with lengths."""

    input_kind = "fbank"  # what it reads (hf_encoder's encoders read other kinds)
    subsampling_factor = 4  # input frames per output frame (`self.subsampling` is the module that does it)

    def __init__(
        self,
        input_dim: int = 80,
        d_model: int = 144,
        num_layers: int = 6,
        num_heads: int = 4,
        ffn_dim: int = 576,
        kernel_size: int = 31,
        dropout: float = 0.1,
        subsampling_channels: int = 64,
        pos_enc: str = "sinusoidal",
        xscale: bool = True,
    ) -> None:
        super().__init__()
        if pos_enc not in ("sinusoidal", "none"):
            raise ValueError(f"encoder pos_enc must be sinusoidal or none, got {pos_enc!r}")
        self.d_model = d_model
        self.pos_enc = pos_enc
        # ESPnet's x * sqrt(d_model) before adding the positions: without it the unit-scale sinusoids
        # outweigh the subsampled features at init
        self.xscale = math.sqrt(d_model) if xscale else 1.0
        self.subsampling = Conv2dSubsampling(input_dim, d_model, subsampling_channels)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            ConformerLayer(d_model, num_heads, ffn_dim, kernel_size, dropout) for _ in range(num_layers)
        )

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Output frames of inputs of `lengths` frames, as `forward` returns them."""
        return self.subsampling.output_lengths(lengths).clamp(min=0)

    def forward(self, features: torch.Tensor, feature_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, lens = self.subsampling(utterance_cmvn(features, feature_lens), feature_lens)
        return run_layers(x * self.xscale, lens, self.layers, self.pos_enc, self.dropout)


def run_layers(x: torch.Tensor, lens: torch.Tensor, layers: nn.ModuleList, pos_enc: str,
               dropout: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions (sinusoidal or none), dropout, then the Conformer layers under the length mask; zero past each
    length. Shared by our Conformer and the adapter on a frozen encoder's outputs (model/adapter.py)."""
    if pos_enc == "sinusoidal":
        x = x + sinusoidal_positions(x.size(1), x.size(-1), x.device)
    x = dropout(x)
    mask = lengths_to_mask(lens, x.size(1))
    for layer in layers:
        x = layer(x, mask)
    return x.masked_fill(~mask[..., None], 0.0), lens
