"""Small helpers every module shares: one logging format, atomic file writes."""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import IO, Dict, Iterator, Mapping, Union

LOG_FORMAT = "%(asctime)s %(levelname)s [%(filename)s:%(lineno)d] %(message)s"

PathLike = Union[str, os.PathLike]


def setup_logging(level: Union[int, str] = logging.INFO, log_file: PathLike | None = None) -> None:
    """Configure the root logger with the project's single format (stderr, optionally a file too)."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers, force=True)


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Write to a temp file in the same directory, then rename over `path`.

    Readers never see a half-written file, and a crash leaves the old file intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_save_torch(obj: object, path: PathLike) -> None:
    """torch.save through a temp file + rename (checkpoints are never half-written)."""
    import torch

    with atomic_write(path, "wb") as f:
        torch.save(obj, f)


class FormatError(ValueError):
    """A malformed input line; the message names the file and line."""


# Kaldi `key value` files (text, ref, utt2lang, ...): decode dirs write them, scoring reads them
def read_kaldi_map(path: PathLike, allow_empty_value: bool = True) -> Dict[str, str]:
    """Read `key value...` lines; a duplicate key or an empty line is an error naming file:line."""
    out: Dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                raise FormatError(f"{path}:{lineno}: empty line")
            key, _, value = line.strip().partition(" ")
            value = " ".join(value.split())
            if not value and not allow_empty_value:
                raise FormatError(f"{path}:{lineno}: no value for {key!r}")
            if key in out:
                raise FormatError(f"{path}:{lineno}: duplicate key {key!r}")
            out[key] = value
    return out


def write_kaldi_map(path: PathLike, items: Mapping[str, str]) -> None:
    with atomic_write(path) as f:
        for key in sorted(items):
            f.write(f"{key} {items[key]}".rstrip() + "\n")
