"""Train the shared sentencepiece tokenizer over LM text and training transcripts.

Usage:
  python -m prefixasr.bin.train_tokenizer --text data/lang/lm_text.txt \
      --manifest-dir data/manifests --splits train --vocab-size 2000 --model-type unigram --output data/lang/spm

  # the encoder CTC's characters (every character of the text, whatever --vocab-size):
  python -m prefixasr.bin.train_tokenizer --manifest-dir data/manifests --splits train --model-type char \
      --output data/lang/chars

Ids: 0 <blk> (RNN-T blank and padding), 1 <unk>, 2 <s>, 3 </s>. Transcripts are normalised with
prefixasr.data.text before training. Writes <output>.model and <output>.vocab.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from prefixasr.common import setup_logging
from prefixasr.data.manifests import load_manifests
from prefixasr.data.text import normalize_text
from prefixasr.data.tokenizer import Tokenizer, train_sentencepiece


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("input")
    g.add_argument("--text", nargs="*", default=[], help="normalised text files, one sentence a line")
    g.add_argument("--manifest-dir", default=None, help="also use the transcripts of these manifests")
    g.add_argument("--splits", nargs="+", default=["train"], help="manifest splits whose transcripts are used")
    g = p.add_argument_group("model")
    g.add_argument("--vocab-size", type=int, default=2000, help="vocabulary size (incl. the 4 special ids)")
    g.add_argument("--model-type", choices=["unigram", "bpe", "char"], default="unigram",
                   help="sentencepiece algorithm; char: one piece per character (the encoder CTC's units), "
                        "--vocab-size is then only an upper bound")
    g.add_argument("--output", required=True, help="model prefix: writes <output>.model and <output>.vocab")
    g.add_argument("--log-level", default="INFO", help="logging level")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    lines = []
    try:
        for path in args.text:
            lines += [l for l in Path(path).read_text(encoding="utf-8").splitlines() if l.strip()]
        if args.manifest_dir:
            for split in args.splits:
                _, sups = load_manifests(args.manifest_dir, split)
                lines += [normalize_text(s.text or "", s.language or "") for s in sups]
    except FileNotFoundError as e:
        logging.error("%s", e)
        return 1
    lines = [l for l in lines if l]
    if not lines:
        logging.error("no text to train on (give --text and/or --manifest-dir)")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
        model = train_sentencepiece([corpus], args.output, args.vocab_size, args.model_type)
    tok = Tokenizer.load(model)
    logging.info("tokenizer %s: %d pieces from %d lines", model, tok.vocab_size, len(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
