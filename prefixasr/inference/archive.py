"""The packed-model archive: one .tar.gz with everything inference needs, checked on the way in.

Layout (all under the top directory `prefixasr-model/`):
    MANIFEST.json   format name + version, prefixasr version, source checkpoints, sha256 + size per file
    config.yaml     the training config; exp_files point at the files below
    model.pt        {"model": averaged state_dict}
    tokenizer/...   the tokenizer (sentencepiece .model or a Hugging Face tokenizer directory)
    lang2id.json    the language map
    llm_config/...  the pretrained LLM's config (only for model.llm.type=pretrained)
    MODEL_CARD.md   what the model is, what it was trained on, its scores

MANIFEST.json is the first member, so a wrong format version is reported before anything big is read;
every other member is checked against its checksum while streaming, and a member missing at the end
means the archive is truncated.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any, Dict, Iterable, Tuple

from prefixasr.common import PathLike, atomic_write

FORMAT_NAME = "prefixasr-model"
FORMAT_VERSION = 1
TOP = "prefixasr-model"
MANIFEST = "MANIFEST.json"
WEIGHTS = "model.pt"
CONFIG = "config.yaml"
LANG_MAP = "lang2id.json"
CARD = "MODEL_CARD.md"
_CHUNK = 1 << 20


class ArchiveError(ValueError):
    """A model archive that cannot be used; str() is the one-line message for the user."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def is_archive(path: PathLike) -> bool:
    return Path(path).is_file() and tarfile.is_tarfile(str(path))


def write_archive(staging: PathLike, out: PathLike, meta: Dict[str, Any]) -> Dict[str, Any]:
    """Tar.gz the files under `staging` (relative names kept) with a manifest first; atomic.

    `meta` goes into the manifest next to the format fields and the per-file checksums.
    """
    staging = Path(staging)
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        **meta,
        "files": {p.relative_to(staging).as_posix(): {"sha256": _sha256(p), "size": p.stat().st_size} for p in files},
    }
    blob = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
    with atomic_write(out, "wb") as f:
        with tarfile.open(fileobj=f, mode="w:gz", compresslevel=6) as tar:  # weights barely compress: be quick
            info = tarfile.TarInfo(f"{TOP}/{MANIFEST}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
            for p in files:
                tar.add(str(p), arcname=f"{TOP}/{p.relative_to(staging).as_posix()}", recursive=False)
    return manifest


def _check_manifest(name: str, raw: bytes) -> Dict[str, Any]:
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArchiveError(f"{name}: unreadable {MANIFEST} ({e})") from None
    if manifest.get("format") != FORMAT_NAME:
        raise ArchiveError(f"{name}: not a prefixasr model archive (format {manifest.get('format')!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        made_by = manifest.get("prefixasr_version", "unknown")
        raise ArchiveError(f"{name}: model archive format version {version} (made by prefixasr {made_by}); "
                           f"this prefixasr reads version {FORMAT_VERSION}: re-pack the model with this version")
    return manifest


def _members(tar: tarfile.TarFile) -> Iterable[Tuple[str, tarfile.TarInfo]]:
    for member in tar:
        rel = member.name[len(TOP) + 1:] if member.name.startswith(TOP + "/") else None
        yield rel, member


def extract_archive(archive: PathLike, dest: PathLike) -> Dict[str, Any]:
    """Verify and unpack into `dest` (which then looks like a packed model directory); returns the manifest.

    Raises ArchiveError naming the archive for: not a tar.gz, truncated/corrupt data, another format
    version, a checksum mismatch, or a listed file missing. Only files the manifest lists are written,
    so a crafted archive cannot write outside `dest`.
    """
    name, dest = str(archive), Path(dest)
    if Path(archive).is_dir():
        raise ArchiveError(f"{name}: is a directory, not a model archive")
    if not Path(archive).is_file():
        raise ArchiveError(f"{name}: no such file")
    manifest = None
    seen = set()
    try:
        with tarfile.open(str(archive), mode="r|gz") as tar:
            for rel, member in _members(tar):
                if manifest is None:
                    if rel != MANIFEST or not member.isfile():
                        raise ArchiveError(f"{name}: not a prefixasr model archive (first member {member.name!r}, "
                                           f"expected {TOP}/{MANIFEST})")
                    raw = tar.extractfile(member).read()
                    manifest = _check_manifest(name, raw)
                    dest.mkdir(parents=True, exist_ok=True)
                    (dest / MANIFEST).write_bytes(raw)  # kept: says what the directory holds
                    continue
                entry = manifest["files"].get(rel) if rel is not None else None
                if not member.isfile() or entry is None:
                    continue  # directories, or anything the manifest does not vouch for
                if Path(rel).is_absolute() or ".." in Path(rel).parts:
                    raise ArchiveError(f"{name}: unsafe path {rel!r} in the archive")
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                h = hashlib.sha256()
                src = tar.extractfile(member)
                with open(target, "wb") as f:
                    for chunk in iter(lambda: src.read(_CHUNK), b""):
                        h.update(chunk)
                        f.write(chunk)
                if h.hexdigest() != entry["sha256"]:
                    raise ArchiveError(f"{name}: checksum mismatch for {rel} (corrupt archive)")
                seen.add(rel)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:  # not disk-full etc.: those say so
        if isinstance(e, tarfile.ReadError) and manifest is None and not seen:
            raise ArchiveError(f"{name}: truncated, corrupt or not a .tar.gz model archive ({e})") from None
        raise ArchiveError(f"{name}: truncated or corrupt archive ({str(e) or type(e).__name__})") from None
    if manifest is None:
        raise ArchiveError(f"{name}: empty archive (no {MANIFEST})")
    missing = sorted(set(manifest["files"]) - seen)
    if missing:
        raise ArchiveError(f"{name}: truncated archive: {len(missing)} file(s) missing, e.g. {missing[0]}")
    return manifest


def cache_root() -> Path:
    """Where archives are unpacked: $PREFIXASR_CACHE, else ~/.cache/prefixasr (one directory per archive)."""
    return Path(os.environ.get("PREFIXASR_CACHE") or Path.home() / ".cache" / "prefixasr") / "models"


def unpack_cached(archive: PathLike) -> Path:
    """The archive verified and unpacked once, into cache_root()/<its sha256>; later loads of the same bytes
    reuse that directory (a changed archive has another key). Unpacked beside the target and renamed, so a
    killed load never leaves a half directory that a later one would trust."""
    archive = Path(archive)
    if archive.is_dir():
        raise ArchiveError(f"{archive}: is a directory, not a model archive")
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such file")
    dest = cache_root() / _sha256(archive)
    if (dest / MANIFEST).is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name[:12]}-", dir=dest.parent))
    try:
        extract_archive(archive, tmp)
        try:
            tmp.rename(dest)
        except OSError:  # another process unpacked the same archive first: use theirs
            if not (dest / MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
