"""Soft prompts: K learned vectors in the LLM's embedding space, shared or one set per language."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

# Native names: a sentencepiece model trained on native-script text tokenises these well,
# so the prompt starts from meaningful embeddings (codes like "hi" would be one rare piece).
LANGUAGE_NAMES = {
    "as": "অসমীয়া", "bn": "বাংলা", "gu": "ગુજરાતી", "hi": "हिन्दी", "kn": "ಕನ್ನಡ",
    "ml": "മലയാളം", "mr": "मराठी", "ne": "नेपाली", "or": "ଓଡ଼ିଆ", "pa": "ਪੰਜਾਬੀ",
    "ta": "தமிழ்", "te": "తెలుగు", "ur": "اردو", "en": "English",
}

PROMPT_TYPES = ("none", "shared", "langid")


class SoftPrompt(nn.Module):
    """`shared`: one (K, D) prompt; `langid`: a (K, D) prompt per language index."""

    def __init__(self, prompt_type: str, length: int, dim: int, num_languages: int) -> None:
        super().__init__()
        if prompt_type not in ("shared", "langid"):
            raise ValueError(f"soft prompt type must be one of {PROMPT_TYPES}, got {prompt_type!r}")
        self.prompt_type = prompt_type
        self.length = length
        n = num_languages if prompt_type == "langid" else 1
        self.weight = nn.Parameter(torch.randn(n, length, dim) * 0.02)

    def forward(self, lang_ids: torch.Tensor) -> torch.Tensor:
        if self.prompt_type == "shared":
            return self.weight.expand(lang_ids.size(0), -1, -1)
        return self.weight[lang_ids]

    @torch.no_grad()
    def init_from_token_ids(self, embedding: nn.Embedding, ids_per_prompt: Sequence[Optional[list[int]]]) -> None:
        """Copy token embeddings (cycled to length K) into each prompt; None/empty keeps the random init."""
        for i, ids in enumerate(ids_per_prompt):
            if not ids:
                continue
            idx = torch.tensor([ids[j % len(ids)] for j in range(self.length)], device=self.weight.device)
            self.weight[i] = embedding(idx).to(self.weight.dtype)
