"""The fixed language → index map (lang2id.json) saved next to the data.

Model heads (soft prompts, LID) are indexed by it, so it is written once at data preparation and
read back by training and decoding; indices never depend on which cuts a batch happens to hold.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterable, List

from prefixasr.common import PathLike, atomic_write


class LanguageMap:
    """Bijection between ISO language codes and contiguous indices 0..N-1."""

    def __init__(self, lang2id: Dict[str, int]):
        ids = sorted(lang2id.values())
        if ids != list(range(len(ids))):
            raise ValueError(f"language indices must be 0..{len(ids) - 1}, got {ids}")
        self.lang2id = dict(lang2id)
        self._id2lang = {i: lang for lang, i in lang2id.items()}

    @classmethod
    def from_languages(cls, languages: Iterable[str]) -> "LanguageMap":
        """Build from language codes; sorted so the same set always gives the same indices."""
        return cls({lang: i for i, lang in enumerate(sorted(set(languages)))})

    @classmethod
    def load(cls, path: PathLike) -> "LanguageMap":
        with open(path, encoding="utf-8") as f:
            return cls({str(k): int(v) for k, v in json.load(f).items()})

    def save(self, path: PathLike) -> None:
        with atomic_write(path) as f:
            json.dump(self.lang2id, f, ensure_ascii=False, indent=2, sort_keys=True)
            f.write("\n")

    def index(self, lang: str) -> int:
        try:
            return self.lang2id[lang]
        except KeyError:
            raise KeyError(f"unknown language {lang!r}; known: {', '.join(self.languages)}") from None

    def language(self, index: int) -> str:
        return self._id2lang[int(index)]

    @property
    def languages(self) -> List[str]:
        return [self._id2lang[i] for i in range(len(self))]

    def __len__(self) -> int:
        return len(self.lang2id)

    def __contains__(self, lang: object) -> bool:
        return lang in self.lang2id

    def __repr__(self) -> str:
        return f"LanguageMap({self.lang2id})"


def lang_map_path(data_dir: PathLike) -> Path:
    """Where a recipe keeps its map: <data_dir>/lang/lang2id.json."""
    return Path(data_dir) / "lang" / "lang2id.json"
