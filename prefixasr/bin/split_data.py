"""Split a Kaldi data directory into parts: by speaker, by utterance, or by language.

Usage:
    python -m prefixasr.bin.split_data data/train 4                     # -> data/train/split4/{1..4}
    python -m prefixasr.bin.split_data --by utterance data/test 8       # -> data/test/split8utt/{1..8}
    python -m prefixasr.bin.split_data --by language data/test          # -> data/test/split_lang/<lang>

(`utils/split_data.sh [--per-utt|--per-lang] <data-dir> [<N>]` is the Kaldi-style wrapper.)

Speaker and utterance splits are contiguous blocks of the utterance list (speakers in order of
appearance), balanced by utterance count; a speaker split never puts one speaker in two parts
(so each part's spk2utt and cmvn.scp stay valid). Per-utterance files are filtered by utterance, wav.scp and
reco2dur by the recordings the part's segments use, spk2gender/cmvn.scp by speaker; spk2utt is
rebuilt. The split is skipped when it is newer than every source file; it is written to a
temporary directory and renamed into place, so a crash never leaves half a split.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Sequence

from prefixasr.common import setup_logging

# Files keyed by utterance, by recording and by speaker (the Kaldi data-dir layout plus utt2lang).
UTT_FILES = ("text", "utt2spk", "utt2lang", "utt2dur", "utt2num_frames", "utt2uniq",
             "utt2category", "segments", "feats.scp")
RECO_FILES = ("wav.scp", "reco2dur", "reco2file_and_channel")
SPK_FILES = ("spk2gender", "cmvn.scp")
SAFE_NAME = re.compile(r"^[\w.+-]+$")


class DataDirError(ValueError):
    """A malformed data directory; the message names the file and line."""


def read_table(path: Path) -> "OrderedDict[str, str]":
    """Read `key rest-of-line` lines in file order; errors name file:line."""
    table: "OrderedDict[str, str]" = OrderedDict()
    with open(path, encoding="utf-8") as f:
        try:
            lines = list(f)
        except UnicodeDecodeError as e:
            raise DataDirError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
        for lineno, line in enumerate(lines, 1):
            line = line.rstrip("\n")
            key = line.split(maxsplit=1)[0] if line.strip() else ""
            if not key or line[0].isspace():
                raise DataDirError(f"{path}:{lineno}: expected '<key> <value>', got {line!r}")
            if key in table:
                raise DataDirError(f"{path}:{lineno}: duplicate key {key!r}")
            table[key] = line
    return table


def field(line: str, index: int) -> str:
    """The index-th whitespace-separated field of a line, or "" when it has fewer."""
    fields = line.split()
    return fields[index] if index < len(fields) else ""


def contiguous_split(sizes: Sequence[int], num_parts: int, unit: str = "item") -> List[range]:
    """Cut items with the given sizes into `num_parts` contiguous, non-empty, balanced blocks.

    Block k ends at the item whose cumulative size is nearest to (k+1)/N of the total.
    """
    if num_parts > len(sizes):
        raise DataDirError(f"cannot split {len(sizes)} {unit}(s) into {num_parts} non-empty parts")
    total = sum(sizes)
    bounds, cum, start = [], 0, 0
    for k in range(num_parts - 1):
        target = total * (k + 1) / num_parts
        end = start + 1  # every block takes at least one item
        cum += sizes[start]
        # keep room for one item per remaining block
        while end < len(sizes) - (num_parts - 1 - k) and abs(cum + sizes[end] - target) <= abs(cum - target):
            cum += sizes[end]
            end += 1
        bounds.append(range(start, end))
        start = end
    bounds.append(range(start, len(sizes)))
    return bounds


def group_utterances(utt2spk: "OrderedDict[str, str]", utt2lang: Dict[str, str] | None,
                     by: str, num_parts: int) -> "OrderedDict[str, List[str]]":
    """Map part name -> utterance ids for the chosen split."""
    utts = list(utt2spk)
    if by == "language":
        if utt2lang is None:
            raise DataDirError("--by language needs an utt2lang file")
        parts: "OrderedDict[str, List[str]]" = OrderedDict()
        for utt in utts:
            if utt not in utt2lang:
                raise DataDirError(f"utterance {utt!r} has no entry in utt2lang")
            lang = field(utt2lang[utt], 1)
            if not SAFE_NAME.match(lang):
                raise DataDirError(f"utt2lang: utterance {utt!r} has an unusable language {lang!r}")
            parts.setdefault(lang, []).append(utt)
        return OrderedDict(sorted(parts.items()))
    if by == "utterance":
        blocks = [[u] for u in utts]
    else:  # speaker: all of a speaker's utterances stay together, even if utt ids lack the prefix
        by_spk: "OrderedDict[str, List[str]]" = OrderedDict()
        for utt in utts:
            by_spk.setdefault(field(utt2spk[utt], 1), []).append(utt)
        blocks = list(by_spk.values())
    unit = "utterance" if by == "utterance" else "speaker (use --by utterance to split finer)"
    ranges = contiguous_split([len(b) for b in blocks], num_parts, unit)
    return OrderedDict((str(i + 1), [u for b in blocks[r.start:r.stop] for u in b])
                       for i, r in enumerate(ranges))


def write_part(out: Path, utts: List[str], tables: Dict[str, "OrderedDict[str, str]"]) -> None:
    """Write the filtered files of one part into `out`."""
    out.mkdir(parents=True)
    keep = set(utts)
    if "segments" in tables:
        recos = {field(tables["segments"][u], 1) for u in utts if u in tables["segments"]}
    else:
        recos = keep
    speakers = {field(tables["utt2spk"][u], 1) for u in utts}
    for name, table in tables.items():
        wanted = keep if name in UTT_FILES else recos if name in RECO_FILES else speakers
        with open(out / name, "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for key, line in table.items() if key in wanted)
    spk2utt: "OrderedDict[str, List[str]]" = OrderedDict()
    for utt in utts:
        spk2utt.setdefault(field(tables["utt2spk"][utt], 1), []).append(utt)
    with open(out / "spk2utt", "w", encoding="utf-8") as f:
        f.writelines(f"{spk} {' '.join(us)}\n" for spk, us in sorted(spk2utt.items()))


def split_data(data: Path, by: str = "speaker", num_parts: int = 0, force: bool = False) -> Path:
    """Split `data` (see the module docstring); returns the split directory."""
    if not (data / "utt2spk").is_file():
        raise DataDirError(f"{data}/utt2spk does not exist: not a Kaldi data directory")
    if by != "language" and num_parts < 1:
        raise DataDirError(f"the number of parts must be 1 or more for --by {by}, got {num_parts}")
    dest = data / ("split_lang" if by == "language" else f"split{num_parts}" + ("utt" if by == "utterance" else ""))
    sources = [data / n for n in UTT_FILES + RECO_FILES + SPK_FILES if (data / n).is_file()]
    newest = max(p.stat().st_mtime for p in sources)
    if not force and dest.is_dir() and dest.stat().st_mtime >= newest:
        logging.info("%s is up to date (newer than every source file); not splitting again", dest)
        return dest
    tables = {p.name: read_table(p) for p in sources}
    parts = group_utterances(tables["utt2spk"], tables.get("utt2lang"), by, num_parts)
    tmp = Path(tempfile.mkdtemp(dir=data, prefix=f".{dest.name}."))
    tmp.chmod(0o755)  # mkdtemp makes it private; the split is ordinary data
    try:
        for name, utts in parts.items():
            write_part(tmp / name, utts, tables)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    sizes = ", ".join(f"{name}:{len(u)}" for name, u in parts.items())
    logging.info("split %d utterances of %s by %s into %s (%s)", len(tables["utt2spk"]), data, by, dest, sizes)
    return dest


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults, keep the docstring's line breaks."""


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=_HelpFormatter)
    io = parser.add_argument_group("input and output")
    io.add_argument("data_dir", type=Path, help="Kaldi data directory (needs utt2spk)")
    io.add_argument("num_parts", type=int, nargs="?", default=0,
                    help="number of parts (not used with --by language)")
    how = parser.add_argument_group("how to split")
    how.add_argument("--by", choices=("speaker", "utterance", "language"), default="speaker",
                     help="keep speakers whole, balance utterances, or one part per utt2lang language")
    how.add_argument("--force", action="store_true",
                     help="split again even when the split is up to date")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging()
    try:
        split_data(args.data_dir, args.by, args.num_parts, args.force)
    except (DataDirError, OSError) as e:
        print(f"split_data: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
