"""The two vocabularies of a system: the LLM's tokenizer, and the project's small units beside it.

The LLM reads and writes its own tokens (a pretrained LLM's 150k-260k, or the recipe's own sentencepiece model).
The heads that align speech with text, the RNN-T and the prefix CTC, keep the project's units (`data.tokenizer`:
characters or a small BPE), and the encoder CTC its characters (`data.char_tokenizer`): a joiner as wide as
Gemma's vocabulary would hold more parameters than Gemma, and its pruned (B, T, S, V) logits would not fit in
memory. NeMo's hybrid SALM + TDT model keeps its ASR BPE for the transducer beside the LLM's tokenizer likewise.

Everything that crosses between them goes through text, here and nowhere else:
  - targets: each transcript encoded once per vocabulary (`encode`);
  - search: the LLM's hypotheses scored by the unit-level CTC and n-gram through their text (`llm_to_units`);
  - the token bridge: a unit's soft transcript in the LLM's embedding space is the mean of the LLM's embeddings
    of the unit's text (`unit_token_map`);
  - the CTC's transcript after the prefix: the encoder CTC's characters as the LLM's tokens (`chars_to_llm`).
With the recipe's own LM both are one sentencepiece model (`shared`) and every crossing is the identity.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from prefixasr.data.tokenizer import BLANK_PIECE, Tokenizer

# files that mark a Hugging Face model directory as holding its own tokenizer
HF_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


def same_tokenizer(a: Tokenizer, b: Tokenizer) -> bool:
    """One vocabulary: the same kind, size and pieces (a copy of one sentencepiece model in an exp dir included)."""
    if a is b:
        return True
    if a.kind != b.kind or a.vocab_size != b.vocab_size:
        return False
    return all(a.id_to_piece(i) == b.id_to_piece(i) for i in range(a.vocab_size))


@dataclass
class Vocabularies:
    llm: Tokenizer  # what the LLM reads and writes (its own tokenizer, or the recipe's sentencepiece model)
    units: Tokenizer  # the RNN-T's and the prefix CTC's (data.tokenizer); id 0 is their blank
    chars: Optional[Tokenizer] = None  # the encoder CTC's characters (data.char_tokenizer), when the system has one

    def __post_init__(self) -> None:
        self.shared = same_tokenizer(self.llm, self.units)
        if self.shared:
            self.units = self.llm  # one object: identity crossings cost nothing
        self._encode_cache: Dict[str, List[int]] = {}
        self._crossings: Dict[int, Vocabularies] = {}

    @classmethod
    def of(cls, tokenizer: Any, chars: Optional[Tokenizer] = None) -> "Vocabularies":
        """`tokenizer` as it is (Vocabularies), or one tokenizer shared by the LLM and the units."""
        return tokenizer if isinstance(tokenizer, Vocabularies) else cls(tokenizer, tokenizer, chars)

    def crossing(self, units: Tokenizer) -> "Vocabularies":
        """The LLM's tokens beside other units (the encoder CTC's characters): kept, so its encode cache lasts."""
        if units is self.units:
            return self
        if id(units) not in self._crossings:
            self._crossings[id(units)] = Vocabularies(self.llm, units)
        return self._crossings[id(units)]

    def llm_to_units(self, llm_ids: Sequence[int]) -> List[int]:
        """The units of what the LLM's tokens say: the same ids when the vocabulary is shared."""
        if self.shared:
            return list(llm_ids)
        text = self.llm.decode(llm_ids)
        got = self._encode_cache.get(text)
        if got is None:
            got = self._encode_cache[text] = self.units.encode(text)
            if len(self._encode_cache) > 200_000:  # a long search: keep memory bounded
                self._encode_cache.clear()
        return got

    def chars_to_llm(self, char_ids: Sequence[int]) -> List[int]:
        """The LLM's own tokens of what the encoder CTC's characters say (model.projector.ctc_text)."""
        if self.chars is None:
            raise ValueError("no character tokenizer (data.char_tokenizer) to read the encoder CTC's labels with")
        return self.llm.encode(self.chars.decode(char_ids))

    def unit_token_map(self, units: Tokenizer, width: int = 8) -> Tuple[torch.Tensor, torch.Tensor]:
        """(U, L) LLM token ids and (U, L) weights: unit u stands for the mean of the LLM's embeddings of the
        tokens of its text (blank and the other specials for nothing; "▁" for a space). Shared vocabularies
        map each unit to its own token."""
        if units is self.llm or same_tokenizer(units, self.llm):
            ids = torch.arange(units.vocab_size)[:, None]
            return ids, torch.ones(units.vocab_size, 1)
        return _token_map(units, self.llm, width)


def _token_map(units: Tokenizer, llm: Tokenizer, width: int) -> Tuple[torch.Tensor, torch.Tensor]:
    specials = {units.pad_id, units.unk_id, units.bos_id, units.eos_id}
    rows: List[List[int]] = []
    for u in range(units.vocab_size):
        piece = units.id_to_piece(u)
        if u in specials or piece == BLANK_PIECE:
            rows.append([])
            continue
        rows.append(llm.encode(piece.replace("\u2581", " "))[:width])
    longest = max(1, max(len(r) for r in rows))
    ids = torch.zeros(len(rows), longest, dtype=torch.long)
    weights = torch.zeros(len(rows), longest)
    for u, r in enumerate(rows):
        if r:
            ids[u, : len(r)] = torch.tensor(r)
            weights[u, : len(r)] = 1.0 / len(r)
    return ids, weights


def llm_tokenizer_path(data_cfg: Dict[str, Any], llm_cfg: Dict[str, Any]) -> str:
    """Where the LLM's tokenizer is: data.llm_tokenizer when set; a pretrained LLM directory's own tokenizer;
    else the project's (data.tokenizer: the recipe's LM, or an LLM trained from scratch, reads the units)."""
    if data_cfg.get("llm_tokenizer"):
        return str(data_cfg["llm_tokenizer"])
    path = llm_cfg.get("path")
    if llm_cfg.get("type") == "pretrained" and path and has_hf_tokenizer(path):
        return str(path)
    return str(data_cfg["tokenizer"])


@lru_cache(maxsize=None)
def has_hf_tokenizer(path: str) -> bool:
    return Path(path).is_dir() and any((Path(path) / f).is_file() for f in HF_TOKENIZER_FILES)
