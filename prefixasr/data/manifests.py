"""Reading and writing a split's lhotse manifests under the recipe's names (see docs/interfaces.md)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Tuple

from lhotse import RecordingSet, SupervisionSet

from prefixasr.common import PathLike


def manifest_paths(manifest_dir: PathLike, split: str) -> Tuple[Path, Path]:
    d = Path(manifest_dir)
    return d / f"{split}_recordings.jsonl.gz", d / f"{split}_supervisions.jsonl.gz"


def save_manifests(recordings: RecordingSet, supervisions: SupervisionSet, manifest_dir: PathLike, split: str) -> None:
    """Write both manifests atomically (temp name keeps the .jsonl.gz suffix lhotse keys the format on)."""
    for manifest, path in zip((recordings, supervisions), manifest_paths(manifest_dir, split)):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp.{path.name}")
        manifest.to_file(tmp)
        os.replace(tmp, path)


def load_manifests(manifest_dir: PathLike, split: str) -> Tuple[RecordingSet, SupervisionSet]:
    rec_path, sup_path = manifest_paths(manifest_dir, split)
    for p in (rec_path, sup_path):
        if not p.is_file():
            raise FileNotFoundError(f"manifest not found: {p}")
    return RecordingSet.from_file(rec_path).to_eager(), SupervisionSet.from_file(sup_path).to_eager()
