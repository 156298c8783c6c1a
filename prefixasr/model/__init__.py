"""Speech encoder, speech-prefix projector, LLM wrapper, soft prompts, RNN-T/CTC/LID heads, assembly.

Public API (see docs/interfaces.md): build_model, load_model, LoadedModel, SpeechPrefixLM.
"""
__all__ = ["LoadedModel", "SpeechPrefixLM", "build_model", "load_model"]


def __getattr__(name: str):
    # lazy, as `prefixasr` itself: importing prefixasr.model.config (the config schema, which the recipe's YAML-only
    # utils read through prefixasr.train.config) must not pull in torch
    if name in ("LoadedModel", "build_model", "load_model"):
        from prefixasr.model import build

        return getattr(build, name)
    if name == "SpeechPrefixLM":
        from prefixasr.model.model import SpeechPrefixLM

        return SpeechPrefixLM
    raise AttributeError(f"module 'prefixasr.model' has no attribute {name!r}")
