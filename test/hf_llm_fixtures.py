"""Tiny random pretrained LLMs on disk, as a user would have them: a Hugging Face directory holding the model's config,
weights and its own tokenizer. Gemma 3 (a sentencepiece-style BPE with "▁" word marks, BOS added, embeddings scaled
by sqrt(hidden) inside the embedding module) and Qwen2 (byte-level BPE, no BOS), both with vocabularies unlike the
project's units."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

ARCHS = ("gemma3", "qwen2")


def _tokenizer(arch: str, texts: Sequence[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if arch == "gemma3":  # Gemma's ids: <pad> 0, <eos> 1, <bos> 2, <unk> 3; BOS added to every encoding
        specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
        tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
        alphabet = sorted(set("".join(texts)) | {"\u2581"})
        tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                           initial_alphabet=alphabet))
        tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
        return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                       pad_token="<pad>", unk_token="<unk>")
    specials = ["<|endoftext|>"]  # Qwen's: no BOS, EOS and padding one token
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def write_tiny_llm(arch: str, out: Path, texts: Sequence[str], seed: int = 0) -> Path:
    """A random `arch` causal LM (hidden 32, 2 layers) with a tokenizer trained on `texts`, saved in `out`."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, Qwen2Config, Qwen2ForCausalLM

    tok = _tokenizer(arch, texts, vocab_size=300 if arch == "qwen2" else 120)
    common = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                  eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    if arch == "gemma3":
        llm = Gemma3ForCausalLM(Gemma3TextConfig(head_dim=16, sliding_window=32, bos_token_id=tok.bos_token_id,
                                                 **common))
    else:
        llm = Qwen2ForCausalLM(Qwen2Config(bos_token_id=None, tie_word_embeddings=True, **common))
    llm.save_pretrained(out)
    tok.save_pretrained(out)
    return out
