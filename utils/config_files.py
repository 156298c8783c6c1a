#!/usr/bin/env python3
"""Print a YAML config's path and, recursively, the paths of the files its `include:` lists name; or a stamp
of each of those files' training part or decode part.

asr.sh stamps each of them, so an edit of an included building block (conf/lm.yaml under
conf/lm_systems.yaml, conf/encoder/mini.yaml under a system) redoes the stages that read it. Training never
reads a system's `decode:` block, so stage 7 stamps each file without it (`--stamps train`) and stage 8, which
writes the decode settings into the experiment, stamps the blocks alone (`--stamps decode`): a decode-only edit
redoes decoding, not training. A stamp is the first 16 hex digits of the md5 of the part's text; a file without a
decode block has the `md5sum` stamp of its whole content as its training part.
The include rule is prefixasr.train.config.read_yaml's (paths relative to the including file);
this script reads YAML only, so it starts in a fraction of a second (prefixasr imports torch).

Usage:
  utils/config_files.py conf/lm_systems.yaml
  utils/config_files.py --stamps train conf/llm/gemma3_270m.yaml
"""
from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml

PARTS = ("train", "decode")
# a top-level key, or a comment about the next one, starts at the line's first column
_TOP_LEVEL = re.compile(r"^\S")


def _read(path: Path, seen: tuple) -> Dict[str, Any]:
    """One config file's YAML; a missing file or an include cycle is an error."""
    if path in seen or not path.is_file():
        what = "an include cycle at" if path in seen else "no config file"
        where = f" (included by {seen[-1]})" if seen else ""
        raise SystemExit(f"config_files.py: {what} {path}{where}")
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def config_files(path: Path, seen: tuple = ()) -> List[Path]:
    """`path` first, then its includes depth-first; a missing file or a cycle is an error."""
    path = path.resolve()
    includes = _read(path, seen).get("include") or []
    return [path] + [file for inc in includes for file in config_files(path.parent / inc, (*seen, path))]


def split_decode_block(text: str) -> Tuple[str, str]:
    """(the text without its top-level `decode:` block, that block): the block runs from its key's line to the
    next line that starts at the first column (a key, or a comment about what follows); its indented comments
    and blank lines go with it."""
    rest, block, inside = [], [], False
    for line in text.splitlines(keepends=True):
        if _TOP_LEVEL.match(line):
            inside = line.startswith("decode:")
        (block if inside else rest).append(line)
    return "".join(rest), "".join(block)


def part_stamp(path: Path, part: str) -> str:
    rest, block = split_decode_block(path.read_text(encoding="utf-8"))
    return hashlib.md5((rest if part == "train" else block).encode("utf-8")).hexdigest()[:16]


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(0)
    part = None
    if len(args) == 3 and args[0] == "--stamps":
        part = args.pop(1)
        args.pop(0)
        if part not in PARTS:
            raise SystemExit(f"config_files.py: --stamps takes one of {', '.join(PARTS)}, not {part!r}")
    if len(args) != 1:
        raise SystemExit(__doc__)
    files = config_files(Path(args[0]))
    print("\n".join(part_stamp(f, part) if part else str(f) for f in files))
