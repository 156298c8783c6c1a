"""SpeechPrefixLM: encoder -> speech prefix -> [soft prompt][prefix][BOS] y [EOS] through a causal LLM,
plus the optional RNN-T, CTC and language-ID branches on the encoder side.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from prefixasr.model.encoder import ConformerEncoder
from prefixasr.model.heads import CtcHead, LanguageIdHead, ctc_best_path
from prefixasr.model.llm import llm_hidden_states, max_positions
from prefixasr.model.projector import FrameStackProjector, append_rows, ctc_compress
from prefixasr.model.prompt import SoftPrompt
from prefixasr.model.transducer import Transducer

IGNORE = -100


class SpeechPrefixLM(nn.Module):
    def __init__(
        self,
        cfg: Dict[str, Any],
        encoder: ConformerEncoder,
        projector: FrameStackProjector,
        llm: Optional[nn.Module],
        soft_prompt: Optional[SoftPrompt],
        transducer: Optional[Transducer],
        ctc: Optional[CtcHead],
        lid_head: Optional[LanguageIdHead],
        encoder_ctc: Optional[CtcHead] = None,
        bridge_map: Optional[tuple[torch.Tensor, torch.Tensor]] = None,
        ctc_text: Optional[Callable[[List[int]], List[int]]] = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg  # the resolved `model:` section (see prefixasr.model.config)
        self.encoder = encoder
        self.projector = projector
        self.llm = llm
        self.soft_prompt = soft_prompt
        self.transducer = transducer
        self.ctc = ctc
        self.lid_head = lid_head
        self.encoder_ctc = encoder_ctc
        self.bos_id = int(cfg["bos_id"])
        self.eos_id = int(cfg["eos_id"])
        self.llm_frozen = bool(llm is not None and cfg["llm"]["freeze"])
        self.leading_bos = bool(llm is not None and cfg["llm"]["leading_bos"])
        # the token bridge's units as the LLM's tokens (data/vocab.py); rebuilt from the tokenizers, never saved
        if bridge_map is not None:
            self.register_buffer("bridge_ids", bridge_map[0], persistent=False)
            self.register_buffer("bridge_weights", bridge_map[1], persistent=False)
        # projector.ctc_text: the encoder CTC's characters -> the LLM's own tokens of their text (data/vocab.py)
        self.ctc_text = ctc_text

    # ---- pieces the decoders call -------------------------------------------------------------
    @property
    def has_llm(self) -> bool:
        return self.llm is not None

    def train(self, mode: bool = True) -> "SpeechPrefixLM":
        super().train(mode)
        if self.llm_frozen:
            self.llm.eval()  # a frozen LLM never runs dropout
        for name in self.cfg["init"]["freeze"]:  # nor does a frozen pretrained part
            self.get_submodule(name).eval()
        return self

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        return self.llm.get_input_embeddings()(ids)

    def _encode(self, features: torch.Tensor, feature_lens: torch.Tensor):
        enc, enc_lens = self.encoder(features, feature_lens)
        prefix, prefix_lens = self.projector(enc, enc_lens)
        return enc, enc_lens, prefix, prefix_lens

    def encode(self, features: torch.Tensor, feature_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """fbank (B, T, 80) -> speech prefix (B, T', D) and its lengths (B,), as the RNN-T and CTC heads read it."""
        _, _, prefix, prefix_lens = self._encode(features, feature_lens)
        return prefix, prefix_lens

    def encode_for_llm(self, features: torch.Tensor, feature_lens: torch.Tensor,
                       ctc_allowed: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """fbank -> the speech prefix as the LLM reads it (`llm_prefix`), for `build_llm_prefix`."""
        return self.llm_prefix(*self._encode(features, feature_lens), ctc_allowed)

    def encode_for_llm_and_ctc(self, features: torch.Tensor, feature_lens: torch.Tensor,
                               ctc_allowed: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, ...]:
        """`encode_for_llm`, plus the encoder CTC's (B, T, V) log-posteriors and their lengths (joint decoding)."""
        enc, enc_lens, prefix, prefix_lens = self._encode(features, feature_lens)
        log_probs = self.ctc_logits(enc, ctc_allowed).float().log_softmax(-1)
        return (*self.llm_prefix(enc, enc_lens, prefix, prefix_lens, ctc_allowed), log_probs, enc_lens)

    def ctc_logits(self, enc: torch.Tensor, allowed: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The encoder CTC's (B, T, V) logits. `allowed` ((B, V) booleans; decoding with a script mask) leaves
        each row its allowed labels and blank, so the CTC reads the utterance in its language's script: a CTC
        that heard the sounds in a neighbour's script would hand the LLM (bridge, compression, joint scores) a
        transcript it may not write."""
        logits = self.encoder_ctc.proj(enc)
        if allowed is None:
            return logits
        if allowed.size(1) != logits.size(-1):
            raise ValueError(f"a script mask over {allowed.size(1)} tokens for an encoder CTC over "
                             f"{logits.size(-1)} labels: the CTC must write the LLM's tokens (--bpe_type char)")
        allowed = allowed.clone()
        allowed[:, self.encoder_ctc.blank_id] = True
        return logits.masked_fill(~allowed[:, None, :], -1e4)

    def prompt(self, lang_ids: torch.Tensor) -> Optional[torch.Tensor]:
        """(B,) language indices -> (B, K, D) soft prompt, or None when the system has none."""
        return None if self.soft_prompt is None else self.soft_prompt(lang_ids)

    def predict_language(self, features: torch.Tensor, feature_lens: torch.Tensor) -> torch.Tensor:
        """(B, L) language logits from the LID head (raises if the system was trained without one)."""
        if self.lid_head is None:
            raise RuntimeError("this model has no language-ID head (train with model.loss.lid_weight > 0)")
        enc, enc_lens = self.encoder(features, feature_lens)
        return self.lid_head(enc, enc_lens)

    def llm_prefix(self, enc: torch.Tensor, enc_lens: torch.Tensor, prefix: torch.Tensor,
                   prefix_lens: torch.Tensor, ctc_allowed: Optional[torch.Tensor] = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """The prefix the LLM reads: at the LLM's embedding scale, plus the token bridge, then with
        projector.compress=ctc one vector per run of the encoder CTC's best non-blank label (`ctc_compress`;
        prefix frames are encoder frames, stack 1). `ctc_allowed`: see `ctc_logits`."""
        x = self.projector.to_llm_scale(prefix)
        bridge, compress = self.cfg["projector"]["token_bridge"], self.cfg["projector"]["compress"]
        # the encoder CTC's logits, once, for the bridge, the compression's labels and its transcript
        use_ctc = "ctc" in (bridge, compress) or self.ctc_text is not None
        ctc_logits = self.ctc_logits(enc, ctc_allowed) if use_ctc else None
        if bridge == "rnnt":
            x = x + self.soft_transcript(self.transducer.simple_am_proj(prefix), self.transducer.blank_id).to(x.dtype)
        elif bridge == "ctc":
            x = x + self.soft_transcript(ctc_logits, self.encoder_ctc.blank_id).to(x.dtype)
        lens = prefix_lens
        best = ctc_logits.detach().argmax(-1) if ctc_logits is not None else None
        if compress == "ctc":
            x, lens = ctc_compress(x, prefix_lens, best, self.encoder_ctc.blank_id)
        if self.ctc_text is not None:
            x, lens = self._append_ctc_text(x, lens, best, enc_lens)
        return x, lens

    def _append_ctc_text(self, x: torch.Tensor, lens: torch.Tensor, best: torch.Tensor,
                         ctc_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The prefix followed by what the encoder CTC's best path (`best` labels) says, in the LLM's own tokens
        (projector.ctc_text): a pretrained LLM copies its own tokens more readily than it learns to spell words from a
        character prefix."""
        said = ctc_best_path(best, ctc_lens, self.encoder_ctc.blank_id)
        ids = [self.ctc_text(chars) for chars, _ in said]
        text_lens = torch.tensor([len(t) for t in ids], dtype=torch.long, device=x.device)
        padded = torch.zeros(len(ids), int(text_lens.max()), dtype=torch.long, device=x.device)
        for i, t in enumerate(ids):
            padded[i, : len(t)] = torch.tensor(t, dtype=torch.long)
        return append_rows(x, lens, self.embed_tokens(padded), text_lens)

    def soft_transcript(self, logits: torch.Tensor, blank_id: int) -> torch.Tensor:
        """The expectation of the units' LLM embeddings under a head's per-frame unit posterior (blank adds
        nothing): the transcript the head reads, in the LLM's own input space (projector.token_bridge). A unit's
        embedding is what the LLM's embedding module returns for its tokens (their mean, data/vocab.py), so an
        LLM that scales its embeddings (Gemma) sees the bridge at its own scale."""
        table = (self.embed_tokens(self.bridge_ids).float() * self.bridge_weights[..., None]).sum(1)  # (U, D)
        probs = logits.float().softmax(-1)[..., : table.size(0)]
        keep = torch.ones(table.size(0), device=logits.device, dtype=probs.dtype)
        if blank_id < table.size(0):
            keep[blank_id] = 0.0
        return (probs * keep) @ table

    def _assemble(
        self, prefix: torch.Tensor, prefix_lens: torch.Tensor, lang_ids: torch.Tensor, text_emb: torch.Tensor,
        text_lens: torch.Tensor, left_pad: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows [prompt][prefix_i][text_i] packed without holes; returns (embeds, mask, text_start).

        One gather from the concatenation [prompt | prefix | text] keeps the prefix gradient intact.
        """
        b = prefix.size(0)
        prompt = self.prompt(lang_ids)
        if self.leading_bos:  # [BOS][soft prompt]: the position-0 token the LLM was pre-trained with
            bos = self.embed_tokens(torch.full((b, 1), self.bos_id, dtype=torch.long, device=prefix.device))
            prompt = bos if prompt is None else torch.cat([bos, prompt.to(bos.dtype)], dim=1)
        k = 0 if prompt is None else prompt.size(1)
        parts = [prefix, text_emb] if prompt is None else [prompt.to(prefix.dtype), prefix, text_emb]
        src = torch.cat(parts, dim=1)
        tp = prefix.size(1)
        row_lens = k + prefix_lens + text_lens
        width = int(row_lens.max())
        limit = max_positions(self.llm)
        if limit is not None and width > limit:
            raise ValueError(f"{width} LLM input positions (prompt {k}, speech prefix up to {int(prefix_lens.max())}, "
                             f"text) exceed the LLM's {limit}: decode long audio in windows, or shorten the cuts")
        pos = torch.arange(width, device=prefix.device)[None, :].expand(b, -1)
        shift = (width - row_lens)[:, None] if left_pad else torch.zeros_like(row_lens)[:, None]
        rel = pos - shift  # position within the row's own content
        mask = (rel >= 0) & (rel < row_lens[:, None])
        in_text = rel >= k + prefix_lens[:, None]
        # prompt and prefix cells sit at `rel` in src; text cell j = rel - k - p_i sits at k + tp + j
        idx = torch.where(in_text, tp + rel - prefix_lens[:, None], rel)
        idx = torch.where(mask, idx, torch.zeros_like(idx))
        embeds = src.gather(1, idx[..., None].expand(-1, -1, src.size(-1)))
        embeds = embeds * mask[..., None].to(embeds.dtype)
        return embeds, mask.long(), shift[:, 0] + k + prefix_lens

    def position_ids(self, mask: torch.Tensor, text_start: torch.Tensor, prefix_lens: torch.Tensor) -> torch.Tensor:
        """Positions of the LLM's input cells, counted along each row as generate() does; with
        projector.align_positions the text restarts at the prefix's first position, so text cell j (BOS, y_1, ...)
        shares its position with prefix vector j. With a CTC-compressed prefix of characters that vector is the
        character to predict next: relative distance 0, which rotary attention finds without learning an
        alignment."""
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        if self.cfg["projector"]["align_positions"]:
            col = torch.arange(mask.size(1), device=mask.device)[None, :]
            pos = pos - torch.where(col >= text_start[:, None], prefix_lens[:, None], torch.zeros_like(pos))
        return pos

    def build_llm_prefix(
        self, prefix: torch.Tensor, prefix_lens: torch.Tensor, lang_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """[soft prompt][speech prefix][BOS], left-padded (every row continues at the last column): embeddings,
        attention mask and position ids (the search continues each row's positions by one a step).

        `prefix` is the LLM's view of the speech (`encode_for_llm`).
        """
        b = prefix.size(0)
        bos = self.embed_tokens(torch.full((b, 1), self.bos_id, dtype=torch.long, device=prefix.device))
        ones = torch.ones(b, dtype=torch.long, device=prefix.device)
        embeds, mask, text_start = self._assemble(prefix, prefix_lens, lang_ids, bos.to(prefix.dtype), ones,
                                                  left_pad=True)
        return embeds, mask, self.position_ids(mask, text_start, prefix_lens)

    # ---- training ------------------------------------------------------------------------------
    def _ce_loss(
        self, prefix: torch.Tensor, prefix_lens: torch.Tensor, lang_ids: torch.Tensor, targets: list[list[int]]
    ) -> torch.Tensor:
        device = prefix.device
        b = prefix.size(0)
        u = max(len(t) for t in targets) + 1
        text_in = torch.zeros(b, u, dtype=torch.long, device=device)  # [BOS] y, padded
        labels = torch.full((b, u), IGNORE, dtype=torch.long, device=device)  # y [EOS]
        for i, t in enumerate(targets):
            seq = torch.tensor([self.bos_id, *t, self.eos_id], dtype=torch.long, device=device)
            text_in[i, : len(t) + 1] = seq[:-1]
            labels[i, : len(t) + 1] = seq[1:]
        text_lens = torch.tensor([len(t) + 1 for t in targets], dtype=torch.long, device=device)
        embeds, mask, text_start = self._assemble(
            prefix, prefix_lens, lang_ids, self.embed_tokens(text_in).to(prefix.dtype), text_lens, left_pad=False
        )
        hidden = llm_hidden_states(self.llm, embeds, mask, self.position_ids(mask, text_start, prefix_lens))
        # logits only where text is predicted: (B, U, V) instead of (B, L, V)
        take = (text_start[:, None] + torch.arange(u, device=device)[None, :]).clamp(max=hidden.size(1) - 1)
        h = hidden.gather(1, take[..., None].expand(-1, -1, hidden.size(-1)))
        keep = labels.reshape(-1) != IGNORE
        return chunked_cross_entropy(self.llm.get_output_embeddings(), h.reshape(-1, h.size(-1))[keep],
                                     labels.reshape(-1)[keep], int(self.cfg["llm"]["logits_chunk"]))

    def rnnt_scales(self, step: int) -> tuple[float, float]:
        """icefall's warm-up: (simple-loss scale 1.0 -> simple_loss_scale, pruned-loss scale 0.1 -> 1.0)."""
        r = self.cfg["rnnt"]
        frac = min(1.0, step / r["warm_step"]) if r["warm_step"] > 0 else 1.0
        return 1.0 + frac * (r["simple_loss_scale"] - 1.0), 0.1 + 0.9 * frac

    def forward(
        self,
        features: torch.Tensor,
        feature_lens: torch.Tensor,
        targets: list[list[int]],
        lang_ids: torch.Tensor,
        step: int = 0,
        char_targets: Optional[list[list[int]]] = None,
        unit_targets: Optional[list[list[int]]] = None,
    ) -> tuple[torch.Tensor, Dict[str, float]]:
        """Training loss: token-level terms per predicted token (y and EOS), LID per utterance; summed stats.

        `targets` are the LLM's tokens; `unit_targets` the RNN-T's and prefix CTC's units (None: the LLM's tokens,
        one shared vocabulary); `char_targets` (character ids) feed the encoder CTC, which systems with
        loss.encoder_ctc_weight > 0 need. Each term is normalised per its own unit (CE per LLM token, RNN-T and CTC
        per unit, encoder CTC per character, LID per utterance).
        stats holds each term's batch sum (`ce`, `rnnt_simple`, `rnnt_pruned`, `ctc`, `encoder_ctc`, `lid`) plus
        `tokens`, `units` (when not the tokens), `chars`, `utterances` and `frames`, so loggers can aggregate over
        batches and ranks.
        """
        w = self.cfg["loss"]
        enc, enc_lens, prefix, prefix_lens = self._encode(features, feature_lens)
        terms: Dict[str, torch.Tensor] = {}
        total = prefix.new_zeros((), dtype=torch.float32)
        tokens = sum(len(t) + 1 for t in targets)  # the LLM's predictions: y and EOS
        if self.llm is not None and w["ce_weight"] > 0:
            terms["ce"] = self._ce_loss(*self.llm_prefix(enc, enc_lens, prefix, prefix_lens), lang_ids, targets)
            total = total + w["ce_weight"] * terms["ce"] / tokens
        # the RNN-T and CTC terms per unit (+1 a sentence, as the CE's EOS): with one shared vocabulary that is per
        # token, as the CE, and a system's weights mean the same with the LLM's own tokens beside the units
        units = targets if unit_targets is None else unit_targets
        n_units = sum(len(t) + 1 for t in units)
        if self.transducer is not None:
            simple, pruned = self.transducer.loss(prefix, prefix_lens, units)
            s_scale, p_scale = self.rnnt_scales(step)
            terms["rnnt_simple"], terms["rnnt_pruned"] = simple, pruned
            total = total + w["rnnt_weight"] * (s_scale * simple + p_scale * pruned) / n_units
        if self.ctc is not None:
            terms["ctc"] = self.ctc.loss(prefix, prefix_lens, units)
            total = total + w["ctc_weight"] * terms["ctc"] / n_units
        if self.encoder_ctc is not None:
            if char_targets is None:
                raise ValueError("this system has an encoder CTC head: forward() needs char_targets")
            # per character: its own unit, so the weight means the same whatever the LLM's tokenizer
            terms["encoder_ctc"] = self.encoder_ctc.loss(enc, enc_lens, char_targets)
            chars = max(1, sum(len(t) for t in char_targets))
            total = total + w["encoder_ctc_weight"] * terms["encoder_ctc"] / chars
        if self.lid_head is not None:
            # one label per utterance: normalised per utterance, or its gradient would vanish
            terms["lid"] = F.cross_entropy(self.lid_head(enc, enc_lens).float(), lang_ids, reduction="sum")
            total = total + w["lid_weight"] * terms["lid"] / len(targets)
        stats = {k: float(v.detach()) for k, v in terms.items()}
        if char_targets is not None:
            stats["chars"] = float(sum(len(t) for t in char_targets))
        if unit_targets is not None:
            stats["units"] = float(n_units)
        stats.update(tokens=float(tokens), utterances=float(len(targets)), frames=float(feature_lens.sum()))
        return total, stats

    # ---- what a checkpoint holds ---------------------------------------------------------------------
    def saved_state(self) -> Dict[str, torch.Tensor]:
        """The state our checkpoints keep: everything but a pretrained LLM's weights that do not train (frozen, or
        the base under LoRA adapters), which stay in the LLM's own directory: kept once, not in every checkpoint."""
        state = self.state_dict()
        if self.llm is None or self.cfg["llm"]["type"] != "pretrained":
            return state
        # keep_vars: tied weights (an LM head sharing the embedding table) appear under both names
        fixed = {f"llm.{n}" for n, p in self.llm.state_dict(keep_vars=True).items()
                 if isinstance(p, nn.Parameter) and not p.requires_grad}
        return {k: v for k, v in state.items() if k not in fixed}

    def load_saved_state(self, state: Dict[str, torch.Tensor]) -> None:
        """Load a `saved_state`: the keys it may lack are exactly the pretrained LLM's fixed weights."""
        missing, unexpected = self.load_state_dict(state, strict=False)
        allowed = set(self.state_dict()) - set(self.saved_state())
        wrong = [k for k in missing if k not in allowed]
        if wrong or unexpected:
            raise RuntimeError(f"checkpoint does not fit this model: missing {wrong[:5]}, unexpected {unexpected[:5]}")


def chunked_cross_entropy(head: nn.Module, hidden: torch.Tensor, labels: torch.Tensor, chunk: int) -> torch.Tensor:
    """Summed cross-entropy of head(hidden) against labels, `chunk` rows of logits at a time: a 262k-token vocabulary
    makes (rows, V) logits of a GB. Each chunk's logits are recomputed in the backward pass instead of kept."""
    from torch.utils.checkpoint import checkpoint

    def piece(h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(head(h).float(), y, reduction="sum")

    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.size(0), max(1, chunk)):
        h, y = hidden[start:start + chunk], labels[start:start + chunk]
        total = total + (checkpoint(piece, h, y, use_reentrant=False) if torch.is_grad_enabled() else piece(h, y))
    return total
