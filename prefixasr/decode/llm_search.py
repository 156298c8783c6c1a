"""LLM search over `[soft prompt][speech prefix][BOS]`: greedy and beam, with a KV cache.

The model side is only: `model.llm` (a Hugging Face causal LM taking inputs_embeds), `model.embed_tokens`
and `model.eos_id`. Inputs come from `model.build_llm_prefix` (left-padded, so every row continues at the
last column; position ids are attention_mask.cumsum - 1, as generate() computes them).
Each row may emit at most `max_lens[i]` tokens (bounded by its prefix length: see `token_limits`),
so an untrained or looping model cannot run away. `allowed` ((B, V) booleans, `script_mask.py`) rules out the
tokens an utterance's language does not write. With `ctc_weight` > 0 the beam search is joint CTC/LLM
decoding (ESPnet's hybrid decoding): each step scores the LLM's best `ctc_candidates` tokens and EOS by
(1 - w) log p_LLM + w (CTC prefix score increment) (`ctc_prefix.py`). With `word_penalty` > 0 every token that
begins a word (`word_starts`, from `script_mask.word_starts`) costs that much more: Kaldi's word insertion penalty,
which trades words split in two against words run together.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from prefixasr.decode import script_mask
from prefixasr.decode.ctc_prefix import CtcPrefixScorer
from prefixasr.decode.ngram import NgramScorer
from prefixasr.decode.settings import DECODE_DEFAULTS


@dataclass
class LlmSearchConfig:
    max_new_tokens: int = 256  # absolute cap per utterance
    max_tokens_per_frame: Optional[float] = None  # cap relative to the speech prefix length (frames after stacking,
    # or the CTC's characters for a compressed prefix); None: the system config's decode.max_tokens_per_frame,
    # resolved by decode.decoder.Decoder (the search reads None as 1)
    repetition_penalty: float = 1.0  # CTRL-style; 1.0 = off
    beam: int = 4
    length_penalty: Optional[float] = None  # finished beams are ranked by logp / len**length_penalty; None: the
    # system config's decode.length_penalty, resolved by decode.decoder.Decoder (the search reads None as 1)
    ctc_weight: Optional[float] = None  # joint decoding with the encoder CTC's prefix score; 0 = the LLM alone;
    # None: the system config's decode.ctc_weight, resolved by decode.decoder.Decoder (so the decode tool, transcribe
    # and the Python API agree); the search functions below read an unresolved None as 0
    ctc_candidates: int = 8  # LLM tokens per hypothesis that the CTC (and the n-gram) score each step (plus EOS)
    ngram_weight: float = 0.0  # shallow fusion: + w log P_ngram(token | history) for each candidate (`ngram.py`)
    word_penalty: Optional[float] = None  # subtracted from the score of each token that begins a word; None: the
    # system config's decode.word_penalty, resolved by decode.decoder.Decoder (the search reads None as 0)
    ctc_propose: Optional[bool] = None  # joint decoding: also score the token the CTC's best path reads next (an
    # LLM of 262k tokens that strays from its prefix often has none of the right ones among its best 8); None: the
    # system config's decode.ctc_propose, resolved by decode.decoder.Decoder (the search reads None as off)


def _resolved(value, key: str):
    """A search option as given, or its default (decode/settings.py) where no Decoder resolved it."""
    return DECODE_DEFAULTS[key] if value is None else value


def token_limits(prefix_lens: torch.Tensor, cfg: LlmSearchConfig) -> List[int]:
    """Per-row maximum of new tokens: min(max_new_tokens, ceil(ratio * prefix_len)), at least 1."""
    ratio = _resolved(cfg.max_tokens_per_frame, "max_tokens_per_frame")
    return [max(1, min(cfg.max_new_tokens, math.ceil(ratio * int(n)))) for n in prefix_lens]


def _positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def word_costs(cfg: LlmSearchConfig, word_starts: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """(V,) the word insertion penalty of each token (0 for tokens inside a word), or None when off."""
    if not cfg.word_penalty:
        return None
    if word_starts is None:
        raise ValueError("word_penalty > 0 needs the tokens that begin a word (script_mask.word_starts)")
    return word_starts.float() * cfg.word_penalty


def penalise(logits: torch.Tensor, history: Sequence[Sequence[int]], penalty: float) -> torch.Tensor:
    """Make already-emitted tokens less likely (divide positive logits, multiply negative ones)."""
    if penalty == 1.0:
        return logits
    logits = logits.clone()
    for i, toks in enumerate(history):
        if toks:
            idx = torch.tensor(sorted(set(toks)), device=logits.device)
            v = logits[i, idx]
            logits[i, idx] = torch.where(v > 0, v / penalty, v * penalty)
    return logits


class Stepper:
    """Feeds the LLM one step at a time, with (use_cache) or without a KV cache; same results either way."""

    def __init__(self, model, embeds: torch.Tensor, mask: torch.Tensor, use_cache: bool,
                 positions: Optional[torch.Tensor] = None):
        self.model, self.use_cache = model, use_cache
        self.embeds, self.mask, self.past = embeds, mask, None
        self.positions = _positions(mask) if positions is None else positions

    def first(self) -> torch.Tensor:
        out = self.model.llm(inputs_embeds=self.embeds, attention_mask=self.mask, position_ids=self.positions,
                             use_cache=self.use_cache, logits_to_keep=1)
        self.past = out.past_key_values if self.use_cache else None
        return out.logits[:, -1].float()

    def reorder(self, rows: torch.Tensor) -> None:
        self.mask = self.mask.index_select(0, rows)
        self.positions = self.positions.index_select(0, rows)
        if self.use_cache:
            self.past.reorder_cache(rows)
        else:
            self.embeds = self.embeds.index_select(0, rows)

    def next(self, tokens: torch.Tensor) -> torch.Tensor:
        emb = self.model.embed_tokens(tokens[:, None]).to(self.embeds.dtype)
        self.mask = torch.cat([self.mask, self.mask.new_ones(self.mask.size(0), 1)], dim=1)
        self.positions = torch.cat([self.positions, self.positions[:, -1:] + 1], dim=1)
        if self.use_cache:
            out = self.model.llm(inputs_embeds=emb, attention_mask=self.mask, position_ids=self.positions[:, -1:],
                                 past_key_values=self.past, use_cache=True, logits_to_keep=1)
            self.past = out.past_key_values
        else:
            self.embeds = torch.cat([self.embeds, emb], dim=1)
            out = self.model.llm(inputs_embeds=self.embeds, attention_mask=self.mask,
                                 position_ids=self.positions, use_cache=False, logits_to_keep=1)
        return out.logits[:, -1].float()


@torch.inference_mode()
def llm_greedy(model, embeds: torch.Tensor, mask: torch.Tensor, max_lens: Sequence[int],
               cfg: Optional[LlmSearchConfig] = None, use_cache: bool = True,
               positions: Optional[torch.Tensor] = None, allowed: Optional[torch.Tensor] = None,
               word_starts: Optional[torch.Tensor] = None) -> List[List[int]]:
    """Greedy decoding of a batch; returns token ids without EOS. `positions`: the prefix's position ids
    (from model.build_llm_prefix; counted along the mask when None); `allowed`: each row's allowed tokens;
    `word_starts`: (V,) the tokens that begin a word (for cfg.word_penalty)."""
    cfg = cfg or LlmSearchConfig()
    costs = word_costs(cfg, word_starts)
    b = embeds.size(0)
    step = Stepper(model, embeds, mask, use_cache, positions)
    logits = step.first()
    hyps: List[List[int]] = [[] for _ in range(b)]
    done = [False] * b
    for t in range(max(max_lens)):
        logits = penalise(logits, hyps, cfg.repetition_penalty)
        if costs is not None:  # the same margin as on log-probabilities: they differ from logits by a constant
            logits = logits - costs
        tok = script_mask.apply(logits, allowed).argmax(-1)
        for i in range(b):
            if done[i]:
                continue
            if int(tok[i]) == model.eos_id:
                done[i] = True
            else:
                hyps[i].append(int(tok[i]))
                done[i] = len(hyps[i]) >= max_lens[i]
        if all(done):
            break
        # finished rows keep being fed EOS: cheaper than shrinking the cache, and never read again
        tok = torch.where(torch.tensor(done, device=tok.device), torch.full_like(tok, model.eos_id), tok)
        logits = step.next(tok)
    return hyps


def candidates(logp: torch.Tensor, ctc: Optional[CtcPrefixScorer], cfg: LlmSearchConfig,
               eos_id: int) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """(N, V) LLM log-probs -> (N, C) the tokens joint decoding scores each step: each row's best LLM tokens, the
    CTC's proposal (cfg.ctc_propose) and EOS; and (N, 1) where the proposal column is unused (None without one)."""
    pre = logp.clone()
    pre[:, eos_id] = -math.inf  # always a candidate, once
    top = pre.topk(min(cfg.ctc_candidates, pre.size(-1) - 1), dim=-1).indices
    eos = torch.full_like(top[:, :1], eos_id)
    unused = None
    if cfg.ctc_propose and ctc is not None:
        proposed = torch.tensor(ctc.proposals(), dtype=torch.long, device=logp.device)[:, None]
        unused = (proposed < 0) | (proposed == eos_id) | (proposed == top).any(1, keepdim=True)
        top = torch.cat([top, torch.where(unused, eos, proposed)], 1)  # a placeholder where unused, never chosen
    return torch.cat([top, eos], 1), unused


def score_parts(logp: torch.Tensor, cands: torch.Tensor, ctc: Optional[CtcPrefixScorer],
                ngram: Optional[NgramScorer], cfg: LlmSearchConfig,
                costs: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The joint score of (N, C) candidate tokens, by part, each weighted as the search adds them: "llm" (1 - w)
    log p_LLM, "ctc" w x the CTC prefix-score increment, "ngram" its weight x log P_ngram, "word" minus the word
    insertion penalty (`costs`: each token's). Scores the CTC and the n-gram (call their `select` next)."""
    w = cfg.ctc_weight or 0.0
    parts = {"llm": (1 - w) * logp.gather(1, cands)}
    if ctc is not None:
        parts["ctc"] = w * ctc.score(cands)
    if ngram is not None:
        parts["ngram"] = cfg.ngram_weight * ngram.score(cands)
    if costs is not None:
        parts["word"] = -costs[cands]
    return parts


def joint_score(parts: Dict[str, torch.Tensor]) -> torch.Tensor:
    """The sum the search ranks by, added in one fixed order (forced scoring adds the same way)."""
    total = parts["llm"]
    for name in ("ctc", "ngram", "word"):
        if name in parts:
            total = total + parts[name]
    return total


def ranking_score(total: float, length: int, cfg: LlmSearchConfig) -> float:
    """What a finished hypothesis of `length` tokens (EOS not counted) is ranked by: total / length**length_penalty."""
    return total / max(length, 1) ** _resolved(cfg.length_penalty, "length_penalty")


def _joint_candidates(logp: torch.Tensor, ctc: Optional[CtcPrefixScorer], ngram: Optional[NgramScorer],
                      cfg: LlmSearchConfig, eos_id: int,
                      costs: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """(N, V) LLM log-probs -> (N, C) joint scores of the step's candidates, and their tokens."""
    cands, unused = candidates(logp, ctc, cfg, eos_id)
    score = joint_score(score_parts(logp, cands, ctc, ngram, cfg, costs))
    if unused is not None:
        score[:, -2:-1] = score[:, -2:-1].masked_fill(unused, -math.inf)
    return score, cands


def llm_beam(model, embeds: torch.Tensor, mask: torch.Tensor, max_lens: Sequence[int],
             cfg: Optional[LlmSearchConfig] = None, positions: Optional[torch.Tensor] = None,
             ctc: Optional[CtcPrefixScorer] = None, allowed: Optional[torch.Tensor] = None,
             ngram: Optional[NgramScorer] = None, word_starts: Optional[torch.Tensor] = None) -> List[List[int]]:
    """llm_beam_scored's 1-bests without their scores."""
    return [tokens for _, tokens in llm_beam_scored(model, embeds, mask, max_lens, cfg, positions, ctc, allowed,
                                                    ngram, word_starts)]


@torch.inference_mode()
def llm_beam_scored(model, embeds: torch.Tensor, mask: torch.Tensor, max_lens: Sequence[int],
                    cfg: Optional[LlmSearchConfig] = None, positions: Optional[torch.Tensor] = None,
                    ctc: Optional[CtcPrefixScorer] = None, allowed: Optional[torch.Tensor] = None,
                    ngram: Optional[NgramScorer] = None, word_starts: Optional[torch.Tensor] = None
                    ) -> List[Tuple[float, List[int]]]:
    """Beam search (ESPnet style): each step keeps the best `beam` continuations of all live beams;
    those ending in EOS leave the beam as finished hypotheses. An utterance is done when it has `beam`
    finished hypotheses (the live ones are dropped), or at its token limit (the live ones then count as
    finished). With beam 1 this is exactly greedy search. `ctc` (one row per utterance) makes it joint CTC/LLM
    decoding (cfg.ctc_weight); `ngram` (one row per utterance) adds an n-gram LM's scores (cfg.ngram_weight);
    `allowed` (one row per utterance) the tokens each utterance may write; `word_starts` (V,) the tokens that
    cfg.word_penalty charges.
    Returns each utterance's best (ranking score, tokens): its score is what forced.py computes for those tokens."""
    cfg = cfg or LlmSearchConfig()
    if (ctc is None) != (not cfg.ctc_weight):
        raise ValueError("joint CTC decoding needs both a CTC prefix scorer and ctc_weight > 0")
    if (ngram is None) != (not cfg.ngram_weight):
        raise ValueError("n-gram fusion needs both an n-gram scorer and ngram_weight > 0")
    costs = word_costs(cfg, word_starts)
    k, b = cfg.beam, embeds.size(0)
    device = embeds.device
    step = Stepper(model, embeds, mask, use_cache=True, positions=positions)
    logits = step.first()  # (B, V)
    rows = torch.arange(b, device=device).repeat_interleave(k)
    step.reorder(rows)
    for scorer in (ctc, ngram):
        if scorer is not None:
            scorer.reorder(rows)
    logits = logits.index_select(0, rows)  # (B*K, V)
    if allowed is not None:  # a row's beams always extend the same utterance: its mask row never moves
        allowed = allowed.index_select(0, rows)
    # only the first copy of each utterance is live at the start; the others would duplicate it
    score = torch.full((b, k), -math.inf, device=device)
    score[:, 0] = 0.0
    seqs: List[List[int]] = [[] for _ in range(b * k)]
    finished: List[List[tuple]] = [[] for _ in range(b)]  # (normalised score, tokens)
    done = [False] * b
    v = logits.size(-1)
    for t in range(max(max_lens)):
        logp = script_mask.apply(penalise(logits, seqs, cfg.repetition_penalty), allowed).log_softmax(-1)
        if ctc is None and ngram is None:
            cand, cand_tok, width = logp if costs is None else logp - costs, None, v
        else:
            cand, cand_tok = _joint_candidates(logp, ctc, ngram, cfg, model.eos_id, costs)
            width = cand.size(-1)
        top_s, top_i = (score.reshape(-1, 1) + cand).reshape(b, k * width).topk(k, dim=-1)  # (B, K)
        src = top_i // width  # beam the candidate extends
        col = top_i % width
        tok = col if cand_tok is None else cand_tok.reshape(b, k * width).gather(1, top_i)
        new_score = top_s.clone()
        new_seqs: List[List[int]] = []
        for i in range(b):
            for j in range(k):
                parent = seqs[i * k + int(src[i, j])]
                s = float(top_s[i, j])
                if done[i] or s == -math.inf:
                    new_seqs.append(parent)
                    new_score[i, j] = -math.inf
                    continue
                if int(tok[i, j]) == model.eos_id:
                    finished[i].append((ranking_score(s, len(parent), cfg), parent))
                    new_seqs.append(parent)
                    new_score[i, j] = -math.inf
                else:
                    new_seqs.append(parent + [int(tok[i, j])])
            if not done[i]:
                live = [(float(new_score[i, j]), new_seqs[i * k + j]) for j in range(k)
                        if new_score[i, j] > -math.inf]
                if len(finished[i]) >= k or not live or t + 1 >= max_lens[i]:
                    if t + 1 >= max_lens[i]:  # only at the limit: before it, a live hypothesis has not ended, and
                        # without its EOS score it would outrank those that did (by total score, any shorter one)
                        finished[i].extend((ranking_score(s, len(q), cfg), q) for s, q in live)
                    done[i] = True
                    new_score[i] = -math.inf
        if all(done):
            break
        seqs, score = new_seqs, new_score
        flat_src = (torch.arange(b, device=device)[:, None] * k + src).reshape(-1)
        step.reorder(flat_src)
        if ctc is not None:
            ctc.select(flat_src, col.reshape(-1))
        if ngram is not None:
            ngram.select(flat_src, col.reshape(-1))
        feed = tok.reshape(-1).clone()
        feed[score.reshape(-1) == -math.inf] = model.eos_id  # dead rows: any token, never read
        logits = step.next(feed)
    return [max(f, key=lambda x: x[0]) if f else (-math.inf, []) for f in finished]
