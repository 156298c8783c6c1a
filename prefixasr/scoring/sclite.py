"""Running NIST `sclite` (the reference scorer) on our trn files, when it is installed.

Debian's `sctk` package installs it as `sctk sclite`; other installs put `sclite` on PATH.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from prefixasr.common import PathLike, atomic_write

_PRA = re.compile(r"^id: \((\S+)\)\nScores: \(#C #S #D #I\) (\d+) (\d+) (\d+) (\d+)", re.M)


def sclite_command() -> Optional[List[str]]:
    """The argv prefix that runs sclite here, or None when it is absent."""
    if shutil.which("sclite"):
        return ["sclite"]
    if shutil.which("sctk"):
        return ["sctk", "sclite"]
    return None


def run_sclite(ref_trn: PathLike, hyp_trn: PathLike, outputs: str = "all") -> str:
    """ESPnet's invocation: `sclite -r ref.trn trn -h hyp.trn trn -i rm -o <outputs> stdout`."""
    cmd = sclite_command()
    if cmd is None:
        raise FileNotFoundError("sclite not found (install Debian package 'sctk')")
    proc = subprocess.run(
        cmd + ["-r", str(ref_trn), "trn", "-h", str(hyp_trn), "trn", "-i", "rm", "-o", outputs, "stdout"],
        capture_output=True, text=True, encoding="utf-8",
    )
    if proc.returncode != 0:
        raise RuntimeError(f"sclite failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return proc.stdout


def parse_pra(text: str) -> Dict[str, Tuple[int, int, int, int]]:
    """Per-utterance (corr, sub, del, ins) keyed by the trn id, from sclite's `pra` output."""
    return {m.group(1): tuple(int(x) for x in m.groups()[1:]) for m in _PRA.finditer(text)}


def write_result(ref_trn: PathLike, hyp_trn: PathLike, out: PathLike) -> Path:
    """Write sclite's full report (`result.txt` in ESPnet's layout)."""
    text = run_sclite(ref_trn, hyp_trn, "all")
    with atomic_write(out) as f:
        f.write(text)
    return Path(out)
