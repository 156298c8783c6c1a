"""prefixasr: speech prefix-tuning of decoder-only LLMs with a pruned RNN-T loss."""

__version__ = "0.1.0"
