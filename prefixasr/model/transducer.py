"""RNN-T branch on the speech prefix: stateless predictor + joiner + pruned RNN-T loss (icefall style).

The loss is computed in two passes (k2's recipe): a cheap "simple" loss from linear projections
gives the gradients that choose, per frame, a window of `prune_range` symbols; the full joiner is
then evaluated only inside that window, so memory is B*T*S*V instead of B*T*U*V.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from prefixasr import losses


class StatelessDecoder(nn.Module):
    """Embedding of the last `context_size` tokens + a depthwise context conv (no recurrence)."""

    def __init__(self, vocab_size: int, decoder_dim: int, blank_id: int, context_size: int = 2) -> None:
        super().__init__()
        self.blank_id = blank_id
        self.context_size = context_size
        # blank's embedding is fixed at zero, so the zero left-padding of training equals a blank context
        # (what search starts from)
        self.embedding = nn.Embedding(vocab_size, decoder_dim, padding_idx=blank_id)
        self.conv = (
            nn.Conv1d(decoder_dim, decoder_dim, context_size, groups=decoder_dim, bias=False)
            if context_size > 1
            else None
        )

    def forward(self, y: torch.Tensor, need_pad: bool = True) -> torch.Tensor:
        """y: (B, U) token ids -> (B, U, decoder_dim).

        need_pad=True (training): left-pad with blanks so every position sees `context_size` tokens.
        need_pad=False (search): y is exactly (B, context_size) and one output frame comes back.
        """
        x = self.embedding(y)
        if self.conv is not None:
            x = x.transpose(1, 2)
            if need_pad:
                x = F.pad(x, (self.context_size - 1, 0))
            else:
                assert x.size(-1) == self.context_size, f"expected {self.context_size} context tokens"
            x = self.conv(x).transpose(1, 2)
        return F.relu(x)


class Joiner(nn.Module):
    def __init__(self, encoder_dim: int, decoder_dim: int, joiner_dim: int, vocab_size: int) -> None:
        super().__init__()
        self.encoder_proj = nn.Linear(encoder_dim, joiner_dim)
        self.decoder_proj = nn.Linear(decoder_dim, joiner_dim)
        self.output_linear = nn.Linear(joiner_dim, vocab_size)

    def forward(self, enc: torch.Tensor, dec: torch.Tensor, project_input: bool = True) -> torch.Tensor:
        """enc (..., C_enc) + dec (..., C_dec), broadcastable -> logits (..., vocab + blank).

        project_input=False: both are already through encoder_proj/decoder_proj (pruned training,
        and greedy search that projects the encoder output once).
        """
        if project_input:
            enc, dec = self.encoder_proj(enc), self.decoder_proj(dec)
        return self.output_linear(torch.tanh(enc + dec))


class Transducer(nn.Module):
    def __init__(
        self,
        encoder_dim: int,
        vocab_size: int,
        blank_id: int,
        decoder_dim: int = 256,
        joiner_dim: int = 256,
        context_size: int = 2,
        prune_range: int = 5,
        lm_scale: float = 0.25,
        am_scale: float = 0.0,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size  # includes blank
        self.blank_id = blank_id
        self.context_size = context_size
        self.loss_config = losses.PrunedRnntConfig(prune_range, lm_scale, am_scale, blank_id)
        self.decoder = StatelessDecoder(vocab_size, decoder_dim, blank_id, context_size)
        self.joiner = Joiner(encoder_dim, decoder_dim, joiner_dim, vocab_size)
        self.simple_am_proj = nn.Linear(encoder_dim, vocab_size)
        self.simple_lm_proj = nn.Linear(decoder_dim, vocab_size)

    @property
    def encoder_proj(self) -> nn.Module:
        return self.joiner.encoder_proj

    @property
    def decoder_proj(self) -> nn.Module:
        return self.joiner.decoder_proj

    def loss(
        self, enc: torch.Tensor, enc_lens: torch.Tensor, targets: list[list[int]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed (simple_loss, pruned_loss) over the batch. enc: (B, T, C) speech prefix."""
        device = enc.device
        b = enc.size(0)
        u_max = max(len(t) for t in targets)
        symbols = torch.full((b, u_max), self.blank_id, dtype=torch.long, device=device)
        for i, t in enumerate(targets):
            if t:
                symbols[i, : len(t)] = torch.tensor(t, dtype=torch.long, device=device)
        sos_y = F.pad(symbols, (1, 0), value=self.blank_id)
        y_lens = torch.tensor([len(t) for t in targets], dtype=torch.long, device=device)

        dec = self.decoder(sos_y)
        # project first, prune second: the pruned tensors are (B, T, S, joiner_dim), not (.., C)
        return losses.pruned_rnnt_loss(
            self.simple_am_proj(enc), self.simple_lm_proj(dec), self.joiner.encoder_proj(enc),
            self.joiner.decoder_proj(dec), lambda am, lm: self.joiner(am, lm, project_input=False),
            symbols, enc_lens, y_lens, self.loss_config,
        )
