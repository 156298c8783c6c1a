"""One tokenizer interface over a sentencepiece model or a pretrained LLM's Hugging Face tokenizer.

Our sentencepiece models reserve id 0 for `<blk>` (the RNN-T blank, also used as padding), then
1 `<unk>`, 2 `<s>`, 3 `</s>`; one model is shared by all languages.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, List, Sequence

from prefixasr.common import PathLike

BLANK_PIECE = "<blk>"


class Tokenizer:
    """`encode(text) -> ids`, `decode(ids) -> text`, plus the special ids the model needs."""

    def __init__(self, backend: object, kind: str):
        self._backend = backend
        self.kind = kind  # "sentencepiece" or "hf"

    @classmethod
    def load(cls, path: PathLike) -> "Tokenizer":
        """A sentencepiece `.model` file, a directory holding a Hugging Face tokenizer, or a GGUF file's vocabulary
        (slow for large vocabularies: prefixasr.bin.convert_llm converts one once)."""
        path = Path(path)
        if path.is_dir() or path.suffix == ".gguf":
            from transformers import AutoTokenizer

            if path.suffix == ".gguf":
                return cls(AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name), "hf")
            return cls(AutoTokenizer.from_pretrained(str(path)), "hf")
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer not found: {path} (a .model file or an HF tokenizer dir)")
        import sentencepiece as spm

        return cls(spm.SentencePieceProcessor(model_file=str(path)), "sentencepiece")

    def encode(self, text: str) -> List[int]:
        if self.kind == "hf":
            return list(self._backend.encode(text, add_special_tokens=False))
        return list(self._backend.encode(text, out_type=int))

    def encode_batch(self, texts: Sequence[str]) -> List[List[int]]:
        return [self.encode(t) for t in texts]

    def decode(self, ids: Iterable[int]) -> str:
        ids = [int(i) for i in ids]
        if self.kind == "hf":
            return self._backend.decode(ids, skip_special_tokens=True)
        # Specials (blank, <s>, </s>) are not text: drop them rather than let them leak into hyps.
        specials = {self.pad_id, self.bos_id, self.eos_id}
        return self._backend.decode([i for i in ids if i not in specials])

    @property
    def vocab_size(self) -> int:
        if self.kind == "hf":
            return len(self._backend)
        return self._backend.get_piece_size()

    @property
    def pad_id(self) -> int:
        if self.kind == "hf":
            pad = self._backend.pad_token_id
            return self.eos_id if pad is None else int(pad)  # many LLMs have no pad: pad with EOS
        return self._backend.pad_id()

    @property
    def unk_id(self) -> int:
        if self.kind == "hf":
            unk = self._backend.unk_token_id
            return -1 if unk is None else int(unk)  # byte-level BPE has no unknown token
        return self._backend.unk_id()

    @property
    def bos_id(self) -> int:
        if self.kind == "hf":
            bos = self._backend.bos_token_id
            return self.eos_id if bos is None else int(bos)
        return self._backend.bos_id()

    @property
    def eos_id(self) -> int:
        if self.kind == "hf":
            return int(self._backend.eos_token_id)
        return self._backend.eos_id()

    @property
    def adds_bos(self) -> bool:
        """Whether the tokenizer's own encoding starts with BOS (Gemma's, Llama's do; Qwen's and ours do not)."""
        if self.kind == "hf":
            bos = self._backend.bos_token_id
            return bos is not None and self._backend.encode("a", add_special_tokens=True)[:1] == [bos]
        return False

    def token_texts(self) -> List[str]:
        """The text of every id alone (in one batch call for a Hugging Face tokenizer: 262k ids in seconds)."""
        if self.kind == "hf":
            return self._backend.batch_decode([[i] for i in range(self.vocab_size)], skip_special_tokens=True)
        return [self.decode([i]) for i in range(self.vocab_size)]

    def pieces(self) -> List[str]:
        """The piece of every id (sentencepiece's "▁" and byte-level BPE's "Ġ" word marks kept)."""
        if self.kind == "hf":
            return [str(p) for p in self._backend.convert_ids_to_tokens(list(range(self.vocab_size)))]
        return [self._backend.id_to_piece(i) for i in range(self.vocab_size)]

    def save(self, out_dir: PathLike) -> None:
        """Write the tokenizer's files (not a model's weights) into `out_dir`."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if self.kind == "hf":
            self._backend.save_pretrained(str(out_dir))
        else:
            (out_dir / "spm.model").write_bytes(self._backend.serialized_model_proto())

    def id_to_piece(self, i: int) -> str:
        if self.kind == "hf":
            return self._backend.convert_ids_to_tokens(int(i))
        return self._backend.id_to_piece(int(i))


def train_sentencepiece(
    text_files: Sequence[PathLike],
    model_prefix: PathLike,
    vocab_size: int,
    model_type: str = "unigram",
    character_coverage: float = 1.0,
    input_sentence_size: int = 2_000_000,
    num_threads: int = 1,
    seed_sentencepiece_size: int = 1_000_000,
) -> Path:
    """Train a sentencepiece model with our reserved ids; returns `<model_prefix>.model`.

    character_coverage=1.0 because ten Indic scripts share the vocabulary and rare letters of
    one language would otherwise all become <unk>.
    """
    import sentencepiece as spm

    model_prefix = Path(model_prefix)
    model_prefix.parent.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        input=",".join(str(p) for p in text_files),
        model_prefix=str(model_prefix),
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=character_coverage,
        input_sentence_size=input_sentence_size,
        shuffle_input_sentence=True,
        num_threads=num_threads,
        seed_sentencepiece_size=seed_sentencepiece_size,
        pad_id=0,
        pad_piece=BLANK_PIECE,
        unk_id=1,
        bos_id=2,
        eos_id=3,
        # Whole vocabulary must be reachable even for tiny demo corpora.
        hard_vocab_limit=False,
        minloglevel=2,
    )
    logging.info("trained sentencepiece %s (%s, vocab %d)", model_prefix, model_type, vocab_size)
    return Path(f"{model_prefix}.model")
