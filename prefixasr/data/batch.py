"""The batch every consumer (trainer, decoder) sees, independent of how the data was loaded."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import torch


@dataclass
class AsrBatch:
    """One mini-batch of utterances.

    `texts` are already normalised (prefixasr.data.text.normalize_text); `languages` are ISO codes
    (e.g. "hi"); the model maps them to indices with the recipe's LanguageMap.
    """

    features: torch.Tensor  # (B, T, F) float32 fbank
    feature_lens: torch.Tensor  # (B,) int64 number of valid frames
    texts: List[str]
    languages: List[str]
    cut_ids: List[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def to(self, device: torch.device | str) -> "AsrBatch":
        return AsrBatch(
            features=self.features.to(device),
            feature_lens=self.feature_lens.to(device),
            texts=self.texts,
            languages=self.languages,
            cut_ids=self.cut_ids,
        )
