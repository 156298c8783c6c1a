"""Small helpers every module shares: one logging format, atomic file writes."""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Union

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
