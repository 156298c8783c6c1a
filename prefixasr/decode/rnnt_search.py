"""RNN-T search on the speech prefix (the auxiliary branch used as a decoder of its own).

The model side is `transducer` from docs/interfaces.md: `.decoder(y (B, context), need_pad=False)`,
`.joiner(enc, dec, project_input=False)`, `.encoder_proj`, `.decoder_proj`, `.blank_id`, `.context_size`.
Both searches return, per utterance, the tokens and the prefix frame each token was emitted on
(used for CTM timestamps and long-form stitching). `allowed` ((B, V) booleans, `script_mask.py`) rules out
the tokens an utterance's language does not write (blank stays allowed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch

from prefixasr.decode import script_mask

Hyp = Tuple[List[int], List[int]]  # (tokens, emission frames)


def _context(tokens: List[int], size: int, blank: int) -> List[int]:
    ctx = tokens[-size:]
    return [blank] * (size - len(ctx)) + ctx


def _dec(transducer, contexts: List[List[int]], device: torch.device) -> torch.Tensor:
    """Projected decoder output (N, 1, J) for N token contexts."""
    y = torch.tensor(contexts, dtype=torch.long, device=device)
    return transducer.decoder_proj(transducer.decoder(y, need_pad=False))


@torch.inference_mode()
def rnnt_greedy(transducer, enc: torch.Tensor, enc_lens: torch.Tensor, max_sym_per_frame: int = 1,
                allowed: Optional[torch.Tensor] = None) -> List[Hyp]:
    """Batched greedy search: at each frame emit the best non-blank symbol (up to max_sym_per_frame) or move on."""
    b, t_max, _ = enc.shape
    blank, ctx_size = transducer.blank_id, transducer.context_size
    enc_proj = transducer.encoder_proj(enc)  # project once, not once per symbol
    hyps: List[Hyp] = [([], []) for _ in range(b)]
    lens = enc_lens.tolist()
    dec = _dec(transducer, [_context([], ctx_size, blank)] * b, enc.device)
    for t in range(t_max):
        active = [i for i in range(b) if t < lens[i]]
        if not active:
            break
        rows = torch.tensor(active, device=enc.device)
        for _ in range(max_sym_per_frame):
            logits = transducer.joiner(enc_proj[rows, t : t + 1], dec[rows], project_input=False)[:, 0]
            best = script_mask.apply(logits, None if allowed is None else allowed[rows]).argmax(-1).tolist()
            emitted = [(i, s) for i, s in zip(active, best) if s != blank]
            if not emitted:
                break
            for i, s in emitted:
                hyps[i][0].append(s)
                hyps[i][1].append(t)
            idx = [i for i, _ in emitted]
            dec[torch.tensor(idx, device=enc.device)] = _dec(
                transducer, [_context(hyps[i][0], ctx_size, blank) for i in idx], enc.device)
            active = idx
            rows = torch.tensor(active, device=enc.device)
    return hyps


@dataclass
class _BeamHyp:
    tokens: List[int] = field(default_factory=list)
    frames: List[int] = field(default_factory=list)
    logp: float = 0.0


@torch.inference_mode()
def rnnt_beam(transducer, enc: torch.Tensor, enc_lens: torch.Tensor, beam: int = 4,
              allowed: Optional[torch.Tensor] = None) -> List[Hyp]:
    """icefall's modified beam search: at most one symbol per frame per hypothesis; hypotheses with the
    same tokens are merged (log-add). The whole batch's hypotheses go through the network together."""
    b, t_max, _ = enc.shape
    blank, ctx_size = transducer.blank_id, transducer.context_size
    enc_proj = transducer.encoder_proj(enc)
    lens = enc_lens.tolist()
    beams: List[List[_BeamHyp]] = [[_BeamHyp()] for _ in range(b)]
    for t in range(t_max):
        active = [i for i in range(b) if t < lens[i]]
        if not active:
            break
        flat = [(i, h) for i in active for h in beams[i]]
        dec = _dec(transducer, [_context(h.tokens, ctx_size, blank) for _, h in flat], enc.device)
        rows = torch.tensor([i for i, _ in flat], device=enc.device)
        logits = transducer.joiner(enc_proj[rows, t : t + 1], dec, project_input=False)[:, 0].float()
        logp = script_mask.apply(logits, None if allowed is None else allowed[rows]).log_softmax(-1)
        logp = logp + torch.tensor([h.logp for _, h in flat], device=enc.device)[:, None]
        v = logp.size(-1)
        start = 0
        for i in active:
            n = len(beams[i])
            scores = logp[start : start + n].reshape(-1)
            top_s, top_i = scores.topk(min(beam, scores.numel()))
            merged: Dict[Tuple[int, ...], _BeamHyp] = {}
            for s, idx in zip(top_s.tolist(), top_i.tolist()):
                parent = flat[start + idx // v][1]
                sym = idx % v
                if sym == blank:
                    new = _BeamHyp(parent.tokens, parent.frames, s)
                else:
                    new = _BeamHyp(parent.tokens + [sym], parent.frames + [t], s)
                key = tuple(new.tokens)
                if key in merged:
                    old = merged[key]
                    old.logp = float(torch.logaddexp(torch.tensor(old.logp), torch.tensor(s)))
                else:
                    merged[key] = new
            beams[i] = list(merged.values())
            start += n
    out: List[Hyp] = []
    for hs in beams:
        best = max(hs, key=lambda h: h.logp)
        out.append((best.tokens, best.frames))
    return out
