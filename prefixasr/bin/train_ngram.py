"""Count a token n-gram LM (interpolated Kneser-Ney) over LM text, for shallow fusion in the LLM's search.

Usage:
  python -m prefixasr.bin.train_ngram --text data/lang/lm_text.txt --tokenizer data/lang/spm.model \
      --order 6 --output exp/lm/ngram_6.npz --valid-cuts data/fbank/dev_cuts.jsonl.gz

  # then decode with it (or set decode.ngram / decode.ngram_weight in the system config; asr.sh --use_ngram true):
  python -m prefixasr.bin.decode --exp-dir exp/train --cuts data/fbank/dev_cuts.jsonl.gz --set-name dev \
      --decode-dir exp/train/decode_dev_ngram --ngram exp/lm/ngram_6.npz --ngram-weight 0.3

The tokens are the LLM's (the tokenizer the systems train with), so the n-gram scores the LLM's candidates
directly; ESPnet's asr.sh does the same with KenLM's `lmplz` (stage "Ngram Training"). Counting 2 M characters
takes about a second. `--valid-cuts` logs the held-out perplexity per language, as `prefixasr.bin.lm_perplexity`
does for the neural LM (the same sentences, the same tokens: the two are comparable).
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path
from typing import List

from prefixasr.bin.lm_perplexity import sentences_by_language
from prefixasr.common import setup_logging
from prefixasr.data.tokenizer import Tokenizer
from prefixasr.decode.ngram import NgramLM


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("input")
    g.add_argument("--text", nargs="+", required=True, help="normalised text files, one sentence a line")
    g.add_argument("--tokenizer", required=True, help="the LLM's tokenizer (sentencepiece .model or HF dir)")
    g.add_argument("--valid-cuts", default=None, help="cuts whose transcripts give the held-out perplexity (log)")
    g = p.add_argument_group("model")
    g.add_argument("--order", type=int, default=6, help="n-gram order (tokens of context + 1)")
    g.add_argument("--output", required=True, help="the .npz file to write")
    g.add_argument("--log-level", default="INFO", help="logging level")
    return p


def read_sentences(paths: List[str], tok: Tokenizer) -> List[List[int]]:
    """Token ids of every non-empty line of `paths`."""
    out = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            out += [tok.encode(line.strip()) for line in f if line.strip()]
    return out


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        tok = Tokenizer.load(args.tokenizer)
        sentences = read_sentences(args.text, tok)
        lm = NgramLM.train(sentences, args.order, tok.vocab_size, tok.bos_id, tok.eos_id)
        if args.valid_cuts and not Path(args.valid_cuts).is_file():
            raise FileNotFoundError(f"--valid-cuts {args.valid_cuts} does not exist")
    except (FileNotFoundError, ValueError) as e:
        logging.error("%s", e)
        return 1
    lm.save(args.output)
    logging.info("wrote %s (%.1f MB)", args.output, Path(args.output).stat().st_size / 1e6)
    if args.valid_cuts:
        by_lang, _ = sentences_by_language(Path(args.valid_cuts))
        for lang, texts in by_lang.items():
            rows = [tok.encode(t) for t in texts]
            logprob, tokens = sum(lm.sentence_logprob(r) for r in rows), sum(len(r) + 1 for r in rows)
            logging.info("%s: held-out perplexity %.2f over %d tokens (%d sentences of %s)", lang,
                         math.exp(-logprob / max(tokens, 1)), tokens, len(texts), args.valid_cuts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
