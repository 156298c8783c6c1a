"""A tiny random Hugging Face Whisper written to disk (d_model 32, one layer, a 2 s window: 100 positions, or as many
as asked: 1,500 is Whisper's 30 s), the stand-in for Whisper base in the encoder tests and the recipe's micro run."""
from __future__ import annotations

from pathlib import Path


def write_tiny_whisper(path: Path, max_source_positions: int = 100) -> Path:
    import torch
    from transformers import WhisperConfig, WhisperModel

    torch.manual_seed(0)
    WhisperModel(WhisperConfig(num_mel_bins=80, max_source_positions=max_source_positions, max_target_positions=20,
                               d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                               decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=50,
                               pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=0)
                 ).save_pretrained(path)
    return path
