"""prefixasr: speech prefix-tuning of decoder-only LLMs with a pruned RNN-T loss."""

__version__ = "0.1.0"

__all__ = ["Transcriber", "__version__"]


def __getattr__(name: str):
    # `from prefixasr import Transcriber` without making `import prefixasr` pull in torch/transformers
    if name == "Transcriber":
        from prefixasr.inference.transcriber import Transcriber

        return Transcriber
    raise AttributeError(f"module 'prefixasr' has no attribute {name!r}")
