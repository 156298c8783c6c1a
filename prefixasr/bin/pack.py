"""Pack a trained system into one archive for inference (the recipe's last stage).

The archive holds the averaged weights, the training config, the tokenizer, the language map, the
pretrained LLM's config (if any; with its weights, once, when our checkpoints do not hold them: --llm) and a
MODEL_CARD.md with the training data summary and this system's
rows of RESULTS.md; MANIFEST.json records the format version and a sha256 per file.

Usage:
    python -m prefixasr.bin.pack --exp-dir exp/frozen_rnnt_langid --epoch 30 --avg 5 --out exp/frozen_rnnt_langid/model.tar.gz
    python -m prefixasr.bin.transcribe --model exp/frozen_rnnt_langid/model.tar.gz --lang auto recording.wav
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from prefixasr.common import setup_logging


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, and the Usage block of the docstring kept as written (copy-pasteable)."""


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=_HelpFormatter)
    io = p.add_argument_group("input and output")
    io.add_argument("--exp-dir", type=Path, required=True,
                    help="experiment directory written by prefixasr.bin.train (config.yaml, epoch-N.pt, tokenizer/)")
    io.add_argument("--out", type=Path, required=True, help="archive to write (.tar.gz); written atomically")
    io.add_argument("--results", type=Path, default=None,
                    help="RESULTS.md whose rows for this system go into the model card "
                         "(None: EXP_DIR/RESULTS.md or EXP_DIR/../../RESULTS.md when present)")
    ck = p.add_argument_group("checkpoint selection")
    ck.add_argument("--epoch", type=int, default=None,
                    help="last epoch to use (None: the newest epoch-N.pt; checkpoint-N.pt if no epoch finished)")
    ck.add_argument("--avg", type=int, default=1, help="number of epochs ending at --epoch to average")
    io.add_argument("--llm", choices=("embed", "name"), default="embed",
                    help="a pretrained LLM whose weights our checkpoints do not hold (frozen, or under LoRA): embed "
                         "its directory in the archive once (with its licence notice), or name its path")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="logging verbosity")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging(args.log_level)
    from prefixasr.inference.pack import pack_model

    t0 = time.time()
    try:
        manifest = pack_model(args.exp_dir, args.out, epoch=args.epoch, avg=args.avg, results=args.results, llm=args.llm)
    except (FileNotFoundError, KeyError, ValueError) as e:
        logging.error("cannot pack: %s", str(e).strip("'\""))  # KeyError quotes its message
        return 1
    size = args.out.stat().st_size
    logging.info("wrote %s: %d files, %.1f MB, from %s in %.1f s", args.out, len(manifest["files"]), size / 1e6,
                 ", ".join(manifest["source"]["checkpoints"]), time.time() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
