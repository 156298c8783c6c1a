"""The Python API: `Transcriber.from_pretrained(path).transcribe(audio)`.

Audio of any length goes through the long-form path the decode tool uses (pauses or windows, language ID,
search, joining: prefixasr.decode.decoder.Decoder.long_form), so a file transcribed here gives the same words as
`prefixasr.bin.decode --long-form` on the same model, features and settings. What is added here is
only what a user's file needs first: reading and resampling audio, fbank, choosing the language.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch

from prefixasr.common import PathLike
from prefixasr.decode.decoder import Decoder
from prefixasr.decode.longform import make_windows
from prefixasr.decode.runner import DecodeOptions, default_window
from prefixasr.inference import archive as ar
from prefixasr.inference.audio import SAMPLE_RATE, AudioError, AudioInput, load_audio
from prefixasr.inference.result import Transcription, clean_words, make_segments

if TYPE_CHECKING:
    from prefixasr.model import LoadedModel

AUTO = "auto"


class LanguageError(ValueError):
    """A language the model cannot use (unknown code, or `auto` without a language-ID head)."""


def load_any(path: PathLike, device: str, epoch: Optional[int] = None, avg: int = 1) -> "LoadedModel":
    """A LoadedModel from a .tar.gz archive (verified and unpacked once into the cache, ar.unpack_cached), a
    packed directory, or an experiment directory (epoch/avg apply)."""
    from prefixasr.inference.pack import load_packed
    from prefixasr.model import load_model

    path = Path(path)
    if path.is_dir():
        if (path / ar.MANIFEST).is_file() or (path / ar.WEIGHTS).is_file():
            return load_packed(path, device)
        return load_model(path, epoch=epoch, avg=avg, device=device)
    if not path.exists():
        raise ar.ArchiveError(f"{path}: no such model archive or directory")
    return load_packed(ar.unpack_cached(path), device)


class Transcriber:
    """Speech to text with a packed or trained prefixasr system.

        t = Transcriber.from_pretrained("model.tar.gz")   # or an experiment directory
        r = t.transcribe("talk.mp3", lang="auto")          # or t.transcribe(array, sample_rate=8000)
        r.text, r.language, r.language_prob, r.segments[0].start
    """

    def __init__(self, loaded: "LoadedModel", options: DecodeOptions, device: str, window: Optional[float] = None,
                 overlap: Optional[float] = None, max_duration: float = 100.0, split: Optional[str] = None):
        from prefixasr.model.extractors import extractor_for

        self.model, self.lang_map = loaded.model, loaded.lang_map
        self._decoder = Decoder(loaded, options, "oracle", device)  # checks the method against the model
        default = default_window(self._decoder.opts.method)  # window/overlap None: the method's own
        self.window = default[0] if window is None else window
        self.overlap = default[1] if overlap is None else overlap
        self.max_duration = max_duration
        self.split = self._decoder.resolve_split(split)  # how a recording is cut: pauses or windows
        make_windows(1.0, self.window, self.overlap)  # validates them
        # what the encoder reads, from the audio: fbank, Whisper's log-mel, or a frozen encoder's outputs
        self._extractor = extractor_for(self.model.encoder, self.model.cfg["input_dim"])
        self._decoder.frame_shift = self._extractor.frame_shift

    @classmethod
    def from_pretrained(cls, path: PathLike, device: Optional[str] = None, method: Optional[str] = None,
                        options: Optional[DecodeOptions] = None, epoch: Optional[int] = None, avg: int = 1,
                        window: Optional[float] = None, overlap: Optional[float] = None,
                        max_duration: float = 100.0, split: Optional[str] = None) -> "Transcriber":
        """Load a model archive (.tar.gz from prefixasr.bin.pack), a packed directory, or an experiment
        directory (then `epoch`/`avg` pick and average checkpoints). `options` overrides `method`; no method:
        the model's own (its LLM, else its RNN-T, else its character CTC)."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if window is not None and overlap is not None:
            make_windows(1.0, window, overlap)  # validates window/overlap before the model is read
        return cls(load_any(path, device, epoch, avg), options or DecodeOptions(method=method), device, window,
                   overlap, max_duration, split)

    @property
    def method(self) -> str:
        """The search in use (the model's own default when none was asked for)."""
        return self._decoder.opts.method

    @property
    def languages(self) -> list[str]:
        return self.lang_map.languages

    @property
    def has_language_id(self) -> bool:
        return self.model.lid_head is not None

    def check_language(self, lang: Optional[str]) -> None:
        """Raise LanguageError for a language this model cannot use (before any audio is read)."""
        if lang == AUTO and not self.has_language_id:
            raise LanguageError(f"--lang auto: this model has no language-ID head; pass one of: "
                                f"{', '.join(self.languages)}")
        if lang not in (None, AUTO) and lang not in self.lang_map:
            raise LanguageError(f"unknown language {lang!r}; this model knows: {', '.join(self.languages)}")
        needs_lang = self.model.soft_prompt is not None and self.model.soft_prompt.prompt_type == "langid"
        if lang is None and needs_lang and not self.has_language_id and len(self.languages) > 1:
            raise LanguageError(f"this model needs the language: pass one of {', '.join(self.languages)}")

    def features(self, samples: np.ndarray) -> torch.Tensor:
        """16 kHz samples -> (T, F) features of the encoder's own kind, as the recipe's feature stage makes them."""
        return torch.as_tensor(self._extractor.extract(samples, SAMPLE_RATE), dtype=torch.float32)

    def transcribe(self, audio: AudioInput, sample_rate: Optional[int] = None, lang: Optional[str] = None,
                   name: Optional[str] = None) -> Transcription:
        """Transcribe a path, or a numpy array / torch tensor with its `sample_rate`.

        lang: a language code of the model, "auto" (language-ID head), or None (auto when the model has a
        language-ID head, else its only language, else no language). Raises AudioError or LanguageError.
        """
        self.check_language(lang)
        name = name or (str(audio) if isinstance(audio, (str, os.PathLike)) else "<array>")
        samples = load_audio(audio, sample_rate, name)
        feats = self.features(samples)
        predict = lang == AUTO or (lang is None and self.has_language_id)
        if lang is None and len(self.languages) == 1:
            lang = self.languages[0]
        res = self._decoder.long_form(feats, None if predict else lang, name, self.window, self.overlap,
                                      self.max_duration, predict=predict, split=self.split)
        duration = len(samples) / SAMPLE_RATE
        return Transcription(text=res.text, language=res.language, language_prob=res.language_prob,
                             segments=make_segments(clean_words(res.words, duration)), duration=duration, name=name)


__all__ = ["AudioError", "LanguageError", "Transcriber"]
