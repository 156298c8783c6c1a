"""Build the embedded synthetic Indic long-form corpus (text harvest → espeak-ng → long recordings).

Usage:
  python -m prefixasr.bin.prepare_synthetic --preset mini --languages bn gu hi kn ml mr or pa ta te \
      --output-dir data --download-dir downloads --num-jobs 2 --seed 42 --noise-snr 20 --code-switch-prob 0.1

Writes (see prefixasr/data/synthetic.py): data/audio/<split>/<lang>/*.flac,
data/manifests/{train,dev,test,test_unseen,test_cs}_{recordings,supervisions}.jsonl.gz, data/lang/lm_text.txt,
data/lang/lang2id.json and data/synthetic_info.json (counts, hours, speed). Text comes from Debian
translation catalogs (needs `apt-get download`; cached in --download-dir) or from --text-dir.
Splits share no sentence and no speaker; test_unseen (--unseen-utts) has its own text source and voices;
test_cs (--cs-utts) is test's first sentences again, each followed by an English phrase (code-switching).
Exit status 1 on bad options or missing tools.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from prefixasr.common import setup_logging
from prefixasr.data.harvest import harvest_cached, read_text_dir
from prefixasr.data.synthetic import DEFAULT_LANGUAGES, PRESETS, build_corpus, make_config
from prefixasr.data.text import LANG_RULES
from prefixasr.data.tts import have_espeak


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("corpus")
    g.add_argument("--languages", nargs="+", default=DEFAULT_LANGUAGES, help="ISO codes of the languages to build")
    g.add_argument("--preset", choices=sorted(PRESETS), default="mini",
                   help="size: mini (CPU demo in minutes, ~1-min recordings) or full (hours per language, 1-5 min)")
    g.add_argument("--seed", type=int, default=42, help="random seed: same seed, same corpus")
    g.add_argument("--train-utts", type=int, default=None, help="train utterances per language (default: preset)")
    g.add_argument("--dev-utts", type=int, default=None, help="dev utterances per language (default: preset)")
    g.add_argument("--test-utts", type=int, default=None, help="test utterances per language (default: preset)")
    g.add_argument("--unseen-utts", type=int, default=20,
                   help="test_unseen utterances per language: sentences from other catalogs (UNSEEN_PACKAGES, or "
                        "<text-dir>/unseen/<lang>.txt) read by voice variants no other split uses; 0 = no such split")
    g.add_argument("--cs-utts", type=int, default=20,
                   help="test_cs utterances per language: the first test sentences, each followed by an English phrase "
                        "read by the same test speaker (code-switched speech); 0 = no such split")
    g.add_argument("--rec-seconds", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="target length range of one long recording in seconds (default: preset)")
    g.add_argument("--train-rec-seconds", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="the same for the train split only: shorter train recordings, more voices per hour of "
                        "training speech (default: --rec-seconds)")
    g.add_argument("--min-words", type=int, default=None, help="shortest sentence used, in words (default: 4)")
    g.add_argument("--max-words", type=int, default=None, help="longest sentence used, in words (default: preset)")
    g = p.add_argument_group("augmentation")
    g.add_argument("--noise-snr", type=float, default=None,
                   help="mix background noise at this SNR in dB over each recording (default: clean)")
    g.add_argument("--code-switch-prob", type=float, default=0.0,
                   help="probability that an utterance ends with an English phrase spoken by the same speaker")
    g = p.add_argument_group("input/output")
    g.add_argument("--output-dir", required=True, help="data dir to write audio/, manifests/, lang/ into")
    g.add_argument("--download-dir", default="downloads", help="cache for .deb files and harvested text")
    g.add_argument("--text-dir", default=None,
                   help="use <lang>.txt sentence files (+ optional en_phrases.txt) from here instead of the Debian harvest")
    g = p.add_argument_group("runtime")
    g.add_argument("--num-jobs", type=int, default=2, help="parallel synthesis processes")
    g.add_argument("--log-level", default="INFO", help="logging level")
    return p


def read_unseen(args: argparse.Namespace, languages: list[str]) -> dict[str, list[str]] | None:
    """The test_unseen split's sentences: <text-dir>/unseen/ when a text dir is given (none there: no split),
    else the harvest of other programs' catalogs."""
    if args.text_dir:
        unseen_dir = Path(args.text_dir) / "unseen"
        if not unseen_dir.is_dir():
            logging.info("no %s: no test_unseen split", unseen_dir)
            return None
        return read_text_dir(unseen_dir, languages)[0]
    return harvest_cached(languages, "unseen", args.download_dir)[0]


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    unknown = [l for l in args.languages if l not in LANG_RULES or l == "en"]
    if unknown:
        logging.error("unsupported language(s) %s; supported: %s", unknown,
                      " ".join(l for l in sorted(LANG_RULES) if l != "en"))
        return 1
    if not have_espeak():
        logging.error("espeak-ng not found on PATH: install it (apt-get install espeak-ng, or tools/installers/install_system_deps.sh)")
        return 1
    if not 0.0 <= args.code_switch_prob <= 1.0:
        logging.error("--code-switch-prob must be within [0, 1], got %s", args.code_switch_prob)
        return 1
    utts = None
    if any(v is not None for v in (args.train_utts, args.dev_utts, args.test_utts)):
        base = PRESETS[args.preset]["utts"]
        utts = {"train": args.train_utts if args.train_utts is not None else base["train"],
                "dev": args.dev_utts if args.dev_utts is not None else base["dev"],
                "test": args.test_utts if args.test_utts is not None else base["test"]}
    cfg = make_config(
        args.preset, languages=args.languages, seed=args.seed, utts=utts,
        rec_seconds=tuple(args.rec_seconds) if args.rec_seconds else None, min_words=args.min_words,
        train_rec_seconds=tuple(args.train_rec_seconds) if args.train_rec_seconds else None,
        max_words=args.max_words, noise_snr=args.noise_snr, code_switch_prob=args.code_switch_prob,
        unseen_utts=args.unseen_utts, cs_utts=args.cs_utts,
    )
    try:
        if args.text_dir:
            sentences, english = read_text_dir(args.text_dir, cfg.languages)
        else:
            sentences, english = harvest_cached(cfg.languages, cfg.preset, args.download_dir)
        for lang in cfg.languages:
            logging.info("text: %s %d sentences", lang, len(sentences[lang]))
        logging.info("text: %d English phrases for code-switching", len(english))
        unseen = read_unseen(args, cfg.languages) if cfg.unseen_utts > 0 else None
        build_corpus(sentences, english, cfg, args.output_dir, num_jobs=args.num_jobs, unseen=unseen)
    except (FileNotFoundError, ValueError) as e:
        logging.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
