"""Script masks: each language writes only tokens of its own script (and Latin, for code-switched English).

A multilingual decoder sometimes drifts into a neighbour's script for a word or a whole recording (Punjabi
written in Devanagari, a Kannada letter in a Bengali sentence): no reference of that language holds such a
token, so it is always an error. With the language known (given, or predicted by the LID head) the search can
rule those tokens out, as Whisper's language token narrows its output. The table is (languages, tokens) of
booleans, built once from the tokenizer; a token is allowed for a language when every letter of its text is in
the language's script block (`data.text.LANG_RULES`) or in Latin. Tokens without letters (spaces, digits,
punctuation, specials) and every token of a language without a rule stay allowed.

`word_starts` marks the tokens that begin a word, which the LLM's search can charge a word insertion penalty.
"""
from __future__ import annotations

import unicodedata
from typing import Optional, Sequence

import torch

from prefixasr.data.text import LANG_RULES

LATIN = LANG_RULES["en"].block


def _letters(text: str) -> str:
    """The letters and combining marks of `text` (what decides its script)."""
    return "".join(c for c in text if unicodedata.category(c)[0] in "LM")


def script_mask(tokenizer, languages: Sequence[str]) -> torch.Tensor:
    """(len(languages), tokenizer.vocab_size) booleans: True where the language may write the token."""
    # a token alone decodes to its text; a byte piece of an incomplete character to U+FFFD, which has no letters
    texts = tokenizer.token_texts()
    rules = [LANG_RULES.get(lang) for lang in languages]
    everyone = (1 << len(languages)) - 1
    free = sum(1 << k for k, rule in enumerate(rules) if rule is None)  # languages without a rule allow everything

    def writers(c: str) -> int:  # a bit per language whose script (or Latin) holds the letter
        return free | sum(1 << k for k, rule in enumerate(rules) if rule is not None
                          and any(lo <= ord(c) <= hi for lo, hi in (rule.block, LATIN)))

    by_letter: dict = {}
    allowed = []
    for text in texts:  # 262k tokens of a pretrained LLM: one bit mask a letter, looked up once
        bits = everyone
        for c in _letters(text):
            if c not in by_letter:
                by_letter[c] = writers(c)
            bits &= by_letter[c]
        allowed.append(bits)
    words = torch.tensor(allowed, dtype=torch.long)
    return torch.stack([(words >> k) & 1 for k in range(len(languages))]).bool()


# how tokenizers mark a word's first piece: sentencepiece's "▁", byte-level BPE's "Ġ" (a leading space)
WORD_START_MARKS = ("\u2581", "\u0120")


def word_starts(tokenizer) -> torch.Tensor:
    """(tokenizer.vocab_size,) booleans: True for the tokens that begin a word (their piece starts with a mark)."""
    return torch.tensor([piece.startswith(WORD_START_MARKS) for piece in tokenizer.pieces()],
                        dtype=torch.bool)


def rows_for(mask: Optional[torch.Tensor], lang_ids: torch.Tensor, width: int) -> Optional[torch.Tensor]:
    """Each utterance's row of `mask`, widened with True to `width` (a model's output can be wider than the
    tokenizer: an appended blank)."""
    if mask is None:
        return None
    rows = mask.to(lang_ids.device)[lang_ids]
    if rows.size(1) < width:
        rows = torch.cat([rows, rows.new_ones(rows.size(0), width - rows.size(1))], dim=1)
    return rows[:, :width]


def apply(logits: torch.Tensor, allowed: Optional[torch.Tensor]) -> torch.Tensor:
    """`logits` (N, V) with the tokens `allowed` (N, V) rules out set to -inf."""
    return logits if allowed is None else logits.masked_fill(~allowed, -float("inf"))
