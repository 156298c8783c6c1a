"""Forced scoring: the score the LLM's beam search gives a token sequence it is made to follow, part by part.

A word error is the search's when the reference scores higher than what the beam wrote (a wider or different search
would have found it), the model's when it scores lower (no search would). Each sequence is fed to the LLM as the
beam feeds its hypotheses (one token a step, the same KV cache, script mask, repetition penalty, CTC, n-gram and
word penalty, through `llm_search`'s own scoring functions), so the beam's 1-best scores what the beam said.
At each step it also records whether the token was among the candidates joint decoding scores (the LLM's best
`ctc_candidates`, the CTC's proposal, EOS): a reference token that never is can only be found by a search that
looks further.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import torch

from prefixasr.decode import script_mask
from prefixasr.decode.llm_search import (LlmSearchConfig, Stepper, candidates, joint_score, penalise,
                                         ranking_score, score_parts, word_costs)


@dataclass
class ForcedScore:
    tokens: List[int]
    total: float  # the sum of the joint step scores, EOS included where the sequence is shorter than its limit
    ranked: float  # what the beam ranks a finished hypothesis by: total / len**length_penalty
    parts: Dict[str, float] = field(default_factory=dict)  # "llm", "ctc", "ngram", "word": the total's parts
    missed: int = 0  # tokens (EOS included) that were not among the step's joint-decoding candidates
    reachable: bool = True  # within the token limit, and every token allowed by the script mask


@torch.inference_mode()
def forced_scores(model, embeds: torch.Tensor, mask: torch.Tensor, max_lens: Sequence[int],
                  sequences: Sequence[Sequence[int]], cfg: Optional[LlmSearchConfig] = None,
                  positions: Optional[torch.Tensor] = None, ctc=None, allowed: Optional[torch.Tensor] = None,
                  ngram=None, word_starts: Optional[torch.Tensor] = None) -> List[ForcedScore]:
    """One ForcedScore per row of `embeds` (the inputs of `llm_search.llm_beam`, one row per utterance) for its
    sequence of LLM tokens (EOS not included: it is added, as the beam adds it)."""
    cfg = cfg or LlmSearchConfig()
    costs = word_costs(cfg, word_starts)
    joint = ctc is not None or ngram is not None
    eos = model.eos_id
    seqs = [list(s) for s in sequences]
    # the beam finishes a hypothesis at its limit without scoring EOS
    ends = [len(s) + 1 if len(s) < limit else len(s) for s, limit in zip(seqs, max_lens)]
    out = [ForcedScore(s, 0.0, 0.0, reachable=len(s) <= limit) for s, limit in zip(seqs, max_lens)]
    step = Stepper(model, embeds, mask, use_cache=True, positions=positions)
    logits = step.first()
    rows = torch.arange(len(seqs), device=embeds.device)
    for t in range(max(ends)):
        logp = script_mask.apply(penalise(logits, [s[:t] for s in seqs], cfg.repetition_penalty),
                                 allowed).log_softmax(-1)
        forced = torch.tensor([[s[t] if t < len(s) else eos] for s in seqs], dtype=torch.long, device=logp.device)
        among = (candidates(logp, ctc, cfg, eos)[0] == forced).any(1) if joint else torch.ones_like(rows, dtype=bool)
        parts = score_parts(logp, forced, ctc, ngram, cfg, costs)
        total = joint_score(parts)
        for i, res in enumerate(out):
            if t >= ends[i]:
                continue
            res.total += float(total[i, 0])
            for name, value in parts.items():
                res.parts[name] = res.parts.get(name, 0.0) + float(value[i, 0])
            res.missed += int(not bool(among[i]))
            res.reachable &= float(logp[i, forced[i, 0]]) > -math.inf
        for scorer in (ctc, ngram):
            if scorer is not None:
                scorer.select(rows, torch.zeros_like(rows))
        logits = step.next(forced[:, 0])
    for res in out:
        res.ranked = ranking_score(res.total, len(res.tokens), cfg)
    return out
