"""Reading exercises for LM pre-training: `[noisy copy of a sentence][BOS] sentence [EOS]`, the text
positions restarting where the noisy copy starts.

Why: the prefix systems need an LLM that reads its prefix, and a small LM learns to look things up in its
context (induction) only after far more text than a CPU recipe sees (docs/convergence.md). Stage 7 feeds
the LLM a CTC-compressed prefix, one vector per character the encoder reads, in the LLM's own embedding
space (`projector.token_bridge: ctc`) and at the text's positions (`projector.align_positions`). These rows
are that input made from text alone, with the errors of a CTC (substituted, dropped and inserted
characters), so the LM learns the reading before it ever hears speech. A pretrained LLM of word pieces adapted to
the recipe's text (conf/lm/gemma3_270m_adapt.yaml) gets them in its own form: `[BOS][noisy copy][BOS] sentence
[EOS]`, the copy corrupted in characters then tokenised, positions running on (its stage-7 input: the CTC's text
in its tokens after the prefix, projector.ctc_text).
"""
from __future__ import annotations

import random
from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch

IGNORE = -100


def corrupt(ids: Sequence[int], rate: float, rng: random.Random) -> List[int]:
    """Each token is kept, or with probability `rate` substituted / dropped / followed by an insertion
    (1/2, 1/4, 1/4 of the errors); substitutes and insertions come from the same sentence (its script)."""
    out: List[int] = []
    for tok in ids:
        r = rng.random()
        if r >= rate:
            out.append(tok)
        elif r < rate / 2:
            out.append(rng.choice(ids))
        elif r < rate * 3 / 4:
            continue
        else:
            out.extend([tok, rng.choice(ids)])
    return out or [rng.choice(ids)]


def reading_rows(sentences: Sequence[List[int]], bos: int, eos: int, max_len: int, rate: float,
                 rng: random.Random, noisy_copy: Optional[Callable[[List[int]], List[int]]] = None,
                 leading_bos: bool = False, restart_positions: bool = True
                 ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded rows (input_ids, labels, position_ids, attention_mask), each of width <= max_len.

    Labels cover the sentence and EOS only (HF shifts them: the BOS cell predicts the first token). A
    sentence too long for max_len is cut so that the copy and the text fit. `noisy_copy` makes a sentence's
    copy (default: `corrupt` on its tokens at `rate`); `leading_bos` starts each row with BOS, as a pretrained
    LLM's input starts (model.llm.leading_bos); `restart_positions`: the text's positions restart at the copy's
    first (the recipe LM's prefix, projector.align_positions), else they run on (a pretrained LLM's)."""
    make_copy = noisy_copy or (lambda ids: corrupt(ids, rate, rng))
    head = [bos] if leading_bos else []
    rows = []
    for ids in sentences:
        ids = list(ids[: max(1, (max_len - 2 - len(head)) // 2)])
        noisy = [*head, *make_copy(ids)][: max_len - len(ids) - 2]
        rows.append((noisy, ids))
    width = max(len(n) + len(t) + 2 for n, t in rows)
    input_ids = torch.zeros(len(rows), width, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    positions = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, (noisy, text) in enumerate(rows):
        p, n = len(noisy), len(noisy) + len(text) + 2
        input_ids[i, :n] = torch.tensor([*noisy, bos, *text, eos])
        labels[i, p + 1 : n] = input_ids[i, p + 1 : n]
        if restart_positions:
            positions[i, :p] = torch.arange(p)
            positions[i, p:n] = torch.arange(n - p)  # BOS shares the copy's first position
        else:
            positions[i, :n] = torch.arange(n)
        mask[i, :n] = 1
    return input_ids, labels, positions, mask


def reading_forward(llm: torch.nn.Module, batch: Tuple[torch.Tensor, ...],
                    device: torch.device) -> Tuple[Any, torch.Tensor]:
    """The LLM's output on reading rows (its `.loss` is the mean over the text's tokens) and their labels."""
    input_ids, labels, positions, mask = (t.to(device) for t in batch)
    return llm(input_ids=input_ids, labels=labels, position_ids=positions, attention_mask=mask), labels


def token_errors(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of labelled tokens whose argmax is wrong (teacher-forced; HF's shift: a cell predicts the next)."""
    pred, gold = logits[:, :-1].argmax(-1), labels[:, 1:]
    scored = gold != IGNORE
    return float((pred[scored] != gold[scored]).float().mean())
