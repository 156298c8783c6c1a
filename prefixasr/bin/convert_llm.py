"""Turn a pretrained causal LM in a GGUF file into a local Hugging Face directory (weights + tokenizer), once.

Usage:
  python -m prefixasr.bin.convert_llm --gguf tools/models/gemma-3-270m-q4_k_m.gguf \
      --output-dir tools/models/gemma3-270m --notice tools/models/GEMMA_NOTICE.md

transformers reads GGUF itself (with the `gguf` package), de-quantising the weights; building the tokenizer from
the GGUF's vocabulary takes about a minute for Gemma's 262,144 entries, so it is done here once and the result is
kept: every later load (training, decoding, packing) reads the directory like any other HF model; where a converted
copy of the same model is at hand (a GPU machine sent the tokenizer files, --tokenizer-dir), its tokenizer is reused
instead of built again, once its size is checked against the model's vocabulary. The directory
gets `source.json` (the GGUF's name, size and sha256) and, with --notice, the model's licence notice, which a
packed model that embeds these weights carries along.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import sys
import time
from pathlib import Path

from prefixasr.common import atomic_write, setup_logging

SOURCE_FILE = "source.json"
NOTICE_FILE = "NOTICE.md"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("input")
    g.add_argument("--gguf", required=True, help="the GGUF file of a causal LM")
    g.add_argument("--notice", default=None, help="the model's licence notice, copied into the output directory")
    g.add_argument("--tokenizer-dir", default=None,
                   help="a directory holding this model's converted tokenizer (tokenizer.json, tokenizer_config.json), "
                        "reused instead of building it from the GGUF (a minute for 262k entries)")
    g = p.add_argument_group("output")
    g.add_argument("--output-dir", required=True, help="the HF model directory to write")
    g.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"),
                   help="the de-quantised weights' type (float32: what CPU training computes in)")
    g.add_argument("--log-level", default="INFO", help="logging level")
    return p


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def convert(gguf: Path, out: Path, dtype: str = "float32", notice: Path | None = None,
            tokenizer_dir: Path | None = None) -> Path:
    """Write `out` (config, weights, tokenizer, source.json[, NOTICE.md]); a finished directory is kept as it is.

    With `tokenizer_dir` the tokenizer is read from there instead of the GGUF; a tokenizer whose size is not the
    model's vocabulary is refused (it would belong to another model).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prefixasr.model.llm import savable

    if (out / SOURCE_FILE).is_file():
        logging.info("%s is already converted (%s): nothing to do", out, SOURCE_FILE)
        return out
    if not gguf.is_file():
        raise FileNotFoundError(f"{gguf} does not exist")
    t0 = time.time()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if tokenizer_dir is not None:
        logging.info("reading the tokenizer of %s", tokenizer_dir)
        tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    else:
        logging.info("reading the tokenizer of %s (a minute for a large vocabulary)", gguf)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    logging.info("reading and de-quantising the weights of %s to %s", gguf, dtype)
    read = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=getattr(torch, dtype))
    if tokenizer_dir is not None and len(tok) != read.config.vocab_size:
        raise ValueError(f"the tokenizer of {tokenizer_dir} has {len(tok)} entries, but the model of {gguf} "
                         f"{read.config.vocab_size}: it is another model's")
    model = savable(read)  # the de-quantised weights, no longer marked as GGUF-quantised
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    if notice is not None:
        shutil.copy2(notice, tmp / NOTICE_FILE)
    with atomic_write(tmp / SOURCE_FILE) as f:
        json.dump({"gguf": gguf.name, "bytes": gguf.stat().st_size, "sha256": sha256_of(gguf), "dtype": dtype,
                   "architecture": model.config.architectures, "parameters": sum(p.numel() for p in model.parameters()),
                   "vocab_size": len(tok)}, f, indent=2)
        f.write("\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    logging.info("wrote %s (%s, %d tokens) in %.0f s", out, type(model).__name__, len(tok), time.time() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        convert(Path(args.gguf), Path(args.output_dir), args.dtype, Path(args.notice) if args.notice else None,
                Path(args.tokenizer_dir) if args.tokenizer_dir else None)
    except (FileNotFoundError, ValueError, OSError) as e:
        logging.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
