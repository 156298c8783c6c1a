"""Speech encoder, speech-prefix projector, LLM wrapper, soft prompts, RNN-T/CTC/LID heads, assembly.

Public API (see docs/interfaces.md): build_model, load_model, LoadedModel, SpeechPrefixLM.
"""
from prefixasr.model.build import LoadedModel, build_model, load_model
from prefixasr.model.model import SpeechPrefixLM

__all__ = ["LoadedModel", "SpeechPrefixLM", "build_model", "load_model"]
