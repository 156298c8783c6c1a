"""Transcribe audio files of any length, format and sample rate with a packed model or an experiment dir.

Usage:
    python -m prefixasr.bin.transcribe --model model.tar.gz --lang auto talk.mp3 interview.wav
    python -m prefixasr.bin.transcribe --model exp/frozen_rnnt --epoch 30 --avg 5 --lang hi \\
        --method llm_beam --output-format srt,json --output-dir subs/ lecture.flac
    python -m prefixasr.bin.transcribe --model model.tar.gz --file-list files.txt   # lines: PATH [LANG]

Audio (wav/flac/mp3/ogg, anything libsndfile reads) is mixed down to mono and resampled to 16 kHz.
Recordings are cut at the pauses the encoder CTC hears (the LLM methods' default) or into overlapping
windows that are stitched (--split), exactly as `prefixasr.bin.decode --long-form` does. For each file, stdout gets one line
    FILE<TAB>LANGUAGE<TAB>PROB<TAB>TEXT
(PROB is the language-ID probability when the language was predicted, else "-"), and with
--output-format, OUTPUT_DIR/<file stem>.<format> is written for each format (atomically).
A bad file (unreadable, empty, too short, unknown language in --file-list) gives one error line naming it
and the others are still transcribed; skipped files are counted at the end.
Exit status: 0 all files transcribed; 1 some files failed, or the model/--lang/--method is unusable.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

import torch

from prefixasr.common import setup_logging
from prefixasr.decode.longform import SPLITS
from prefixasr.decode.runner import add_search_arguments, options_from_args
from prefixasr.inference.writers import FORMATS

log = logging.getLogger("transcribe")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, and the Usage block of the docstring kept as written (copy-pasteable)."""


def _formats(value: str) -> List[str]:
    fmts = [f.strip() for f in value.split(",") if f.strip()]
    bad = [f for f in fmts if f not in FORMATS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown format(s) {bad}; choose from {', '.join(FORMATS)}")
    return fmts


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=_HelpFormatter)
    io = p.add_argument_group("input and output")
    io.add_argument("files", nargs="*", type=Path, help="audio files to transcribe")
    io.add_argument("--file-list", type=Path, default=None,
                    help="text file with one 'PATH [LANG]' per line (LANG overrides --lang for that file)")
    io.add_argument("--output-format", type=_formats, default=[],
                    help=f"comma-separated formats to write per file: {', '.join(FORMATS)} (none: stdout only)")
    io.add_argument("--output-dir", type=Path, default=Path("."), help="where --output-format files go")
    m = p.add_argument_group("model")
    m.add_argument("--model", type=Path, required=True,
                   help="model archive from prefixasr.bin.pack (.tar.gz), or a training experiment directory")
    m.add_argument("--epoch", type=int, default=None,
                   help="experiment directory only: last epoch to load (None: the newest)")
    m.add_argument("--avg", type=int, default=1, help="experiment directory only: epochs to average")
    m.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    lg = p.add_argument_group("language")
    lg.add_argument("--lang", default=None,
                    help="language code the model was trained on (e.g. hi), or 'auto' to predict it with the "
                         "language-ID head (None: auto when the model has that head, else its only language)")
    s = p.add_argument_group("search")
    add_search_arguments(s, method=None)
    lf = p.add_argument_group("long recordings")
    lf.add_argument("--split", choices=SPLITS, default=None,
                    help="cut recordings at the encoder CTC's pauses or into overlapping windows "
                         "(default: pauses for the LLM methods, windows for the others)")
    lf.add_argument("--window", type=float, default=None,
                    help="window length in seconds (default: 10 for the LLM methods, 30 for the others)")
    lf.add_argument("--overlap", type=float, default=None,
                    help="overlap of neighbouring windows in seconds (default: 2 for the LLM methods, 5 for the others)")
    lf.add_argument("--max-duration", type=float, default=100.0, help="seconds of audio (windows) per batch")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="logging verbosity")
    return p


def read_inputs(args) -> List[Tuple[Path, Optional[str]]]:
    """(path, language) pairs from the positional files and --file-list (ValueError names the bad line)."""
    items: List[Tuple[Path, Optional[str]]] = [(f, args.lang) for f in args.files]
    if args.file_list is not None:
        if args.file_list.is_dir():
            raise ValueError(f"{args.file_list}: is a directory, not a file list")
        if not args.file_list.is_file():
            raise ValueError(f"{args.file_list}: no such file list")
        for n, line in enumerate(args.file_list.read_text(encoding="utf-8").splitlines(), start=1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) > 2:
                raise ValueError(f"{args.file_list}:{n}: expected 'PATH [LANG]', got {line!r}")
            items.append((Path(fields[0]), fields[1] if len(fields) == 2 else args.lang))
    if not items:
        raise ValueError("no input: give audio files or --file-list")
    return items


def _stem(path: Path, used: set) -> str:
    """Output name for a file: its stem, made unique and safe for CTM's space-separated fields."""
    base = re.sub(r"\s+", "_", path.stem) or "audio"
    stem, k = base, 1
    while stem in used:
        k += 1
        stem = f"{base}-{k}"
    used.add(stem)
    return stem


def main(argv: Optional[list] = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    from prefixasr.inference.archive import ArchiveError
    from prefixasr.inference.audio import AudioError
    from prefixasr.inference.transcriber import LanguageError, Transcriber
    from prefixasr.inference.writers import write_outputs

    try:
        items = read_inputs(args)
        opts = options_from_args(args)
        t0 = time.time()
        tr = Transcriber.from_pretrained(args.model, args.device, options=opts, epoch=args.epoch, avg=args.avg,
                                         window=args.window, overlap=args.overlap, max_duration=args.max_duration,
                                         split=args.split)
        log.info("loaded %s (%s, %s, languages %s) in %.1f s", args.model, tr.method, args.device,
                 ",".join(tr.languages), time.time() - t0)
        if args.lang is not None:
            tr.check_language(args.lang)  # a bad --lang would fail every file: say it once
    except (ArchiveError, LanguageError, OSError, ValueError, KeyError, RuntimeError) as e:
        # RuntimeError: e.g. --device cuda without a GPU; KeyError quotes its message
        log.error("%s", (str(e).splitlines() or [type(e).__name__])[0].strip("'\""))
        return 1

    failed, audio_s, t0, used = 0, 0.0, time.time(), set()
    for k, (path, lang) in enumerate(items, start=1):
        try:
            r = tr.transcribe(path, lang=lang)
        except (AudioError, LanguageError, RuntimeError) as e:  # RuntimeError: e.g. out of memory on a huge file
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            log.error("%s", msg if msg.startswith(str(path)) else f"{path}: {msg}")
            failed += 1
            continue
        prob = "-" if r.language_prob is None else f"{r.language_prob:.3f}"
        print(f"{path}\t{r.language or '-'}\t{prob}\t{r.text}", flush=True)
        if args.output_format:
            write_outputs(r, _stem(path, used), args.output_dir, args.output_format)
        audio_s += r.duration
        elapsed = time.time() - t0
        eta = elapsed / k * (len(items) - k)
        log.info("%d/%d %s: %.1f s audio, language %s%s; RTF %.3f, ETA %.0f s", k, len(items), path, r.duration,
                 r.language or "-", "" if r.language_prob is None else f" (p={r.language_prob:.2f})",
                 elapsed / max(audio_s, 1e-9), eta)
    log.info("transcribed %d of %d files (%.1f s of audio in %.1f s); skipped %d with errors",
             len(items) - failed, len(items), audio_s, time.time() - t0, failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
