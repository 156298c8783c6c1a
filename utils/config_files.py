#!/usr/bin/env python3
"""Print a YAML config's path and, recursively, the paths of the files its `include:` lists name.

asr.sh stamps each of them, so an edit of an included building block (conf/lm.yaml under
conf/lm_systems.yaml, conf/encoder/mini.yaml under a system) redoes the stages that read it.
The include rule is prefixasr.train.config.read_yaml's (paths relative to the including file);
this script reads YAML only, so it starts in a fraction of a second (prefixasr imports torch).

Usage:
  utils/config_files.py conf/lm_systems.yaml
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List

import yaml


def config_files(path: Path, seen: tuple = ()) -> List[Path]:
    """`path` first, then its includes depth-first; a missing file or a cycle is an error."""
    path = path.resolve()
    if path in seen or not path.is_file():
        what = "an include cycle at" if path in seen else "no config file"
        where = f" (included by {seen[-1]})" if seen else ""
        raise SystemExit(f"config_files.py: {what} {path}{where}")
    with open(path, encoding="utf-8") as f:
        includes = (yaml.safe_load(f) or {}).get("include") or []
    return [path] + [file for inc in includes for file in config_files(path.parent / inc, (*seen, path))]


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(0)
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print("\n".join(map(str, config_files(Path(sys.argv[1])))))
