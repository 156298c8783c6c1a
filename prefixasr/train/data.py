"""What the trainer needs from the data: cut loading and filtering, targets, the pessimistic batch."""
from __future__ import annotations

import heapq
import logging
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from lhotse import CutSet, load_manifest_lazy

from prefixasr.data.batch import AsrBatch
from prefixasr.data.datamodule import unpack_batch
from prefixasr.data.text import normalize_text
from prefixasr.data.vocab import Vocabularies
from prefixasr.model.encoder import subsampled_length

LengthFn = Callable[[torch.Tensor], torch.Tensor]  # an encoder's output_lengths: input frames -> output frames


def load_cuts(path: str, what: str) -> CutSet:
    if not path:
        raise ValueError(f"data.{what} is not set: pass data.{what}=<cuts.jsonl.gz> or put it in the config")
    try:
        return load_manifest_lazy(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"data.{what}: {path} does not exist (run the feature stage first)") from None


def max_tokens_per_frame(model_cfg: Dict[str, Any]) -> int | None:
    """What the alignment losses of a system allow (see CutFilter)."""
    loss = model_cfg["loss"]
    if loss["ctc_weight"] > 0:
        return 1
    if loss["rnnt_weight"] > 0:
        return model_cfg["rnnt"]["prune_range"] - 1
    return None


def prefix_frames(num_frames: int, stack: int, output_lengths: LengthFn = subsampled_length) -> int:
    """Speech-prefix length of an utterance: the encoder's output length (`output_lengths`, the encoder's method;
    default: the Conformer's x4), then ceil(/stack)."""
    sub = int(output_lengths(torch.tensor(num_frames)))
    return max(0, (sub + stack - 1) // stack)


class CutFilter:
    """Drops cuts the model cannot learn from, counting (and logging the first few of) each reason.

    `max_tokens_per_frame`: CTC needs a prefix frame per token (1); the pruned RNN-T can emit up to
    prune_range - 1 symbols on one frame; None (CE only) puts no limit. The tokens counted are the RNN-T's and
    CTC's units (`tokenizer`: a Vocabularies' units, or one shared tokenizer); the LLM's must not be empty.
    `output_lengths`: encoder frames from feature frames (the encoder's own method; default: the Conformer's x4).
    """

    def __init__(self, tokenizer: Any, min_duration: float, max_duration: float, stack: int,
                 max_tokens_per_frame: int | None, char_tokenizer: Any = None,
                 output_lengths: LengthFn = subsampled_length):
        self.vocabs = Vocabularies.of(tokenizer)
        self.char_tokenizer = char_tokenizer  # set when the encoder CTC needs an encoder frame per character
        self.min_duration = min_duration
        self.max_duration = max_duration
        self.stack = stack
        self.max_tokens_per_frame = max_tokens_per_frame
        self.output_lengths = output_lengths
        self.counts: Counter = Counter()  # this epoch (cleared by the trainer)
        self._logged: Counter = Counter()  # whole run: only the first few of each reason are logged

    def _reason(self, cut: Any) -> tuple[str, str] | None:
        """(counter key, detail) of why `cut` is dropped, or None to keep it."""
        if not cut.supervisions:
            return "no supervision", ""
        if cut.duration < self.min_duration or cut.duration > self.max_duration:
            return "duration", f"{cut.duration:.2f}s outside [{self.min_duration}, {self.max_duration}]"
        sup = cut.supervisions[0]
        text = normalize_text(sup.text or "", sup.language or "")
        tokens = len(self.vocabs.units.encode(text))
        if tokens == 0 or (not self.vocabs.shared and not self.vocabs.llm.encode(text)):
            return "empty text", ""
        num_frames = cut.num_frames if cut.has_features else int(cut.duration * 100)
        frames = prefix_frames(num_frames, self.stack, self.output_lengths)
        limit = self.max_tokens_per_frame
        if frames < 1 or (limit is not None and tokens > limit * frames):
            return "too many tokens", f"{tokens} tokens but {frames} prefix frames"
        if self.char_tokenizer is not None:
            n_chars = len(self.char_tokenizer.encode(normalize_text(sup.text or "", sup.language or "")))
            enc_frames = prefix_frames(num_frames, 1, self.output_lengths)
            if n_chars > enc_frames:
                return "too many characters", f"{n_chars} characters but {enc_frames} encoder frames"
        return None

    def __call__(self, cut: Any) -> bool:
        reason = self._reason(cut)
        if reason is None:
            return True
        key, detail = reason
        self.counts[key] += 1
        self._logged[key] += 1
        if self._logged[key] <= 5:
            logging.warning("skipping cut %s: %s %s", cut.id, key, detail)
        return False

    def report(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items())) or "none"


def batch_targets(batch: AsrBatch, vocabs: Any, lang_map: Any, char_tokenizer: Any = None
                  ) -> Tuple[List[List[int]], torch.Tensor, Optional[List[List[int]]], Optional[List[List[int]]]]:
    """(the LLM's token ids, language indices, character ids or None, unit ids or None when the units are the
    LLM's tokens) of a batch. `vocabs`: the system's Vocabularies (or one tokenizer for everything)."""
    vocabs = Vocabularies.of(vocabs)
    targets = vocabs.llm.encode_batch(batch.texts)
    units = None if vocabs.shared else vocabs.units.encode_batch(batch.texts)
    try:
        lang_ids = torch.tensor([lang_map.index(lang) for lang in batch.languages], dtype=torch.long)
    except KeyError as e:
        raise ValueError(f"batch with cuts {batch.cut_ids[:3]}...: {e.args[0]}") from None
    char_tokenizer = char_tokenizer or vocabs.chars
    chars = None if char_tokenizer is None else char_tokenizer.encode_batch(batch.texts)
    return targets, lang_ids, chars, units


def total_duration(cuts: CutSet) -> float:
    return float(sum(c.duration for c in cuts))


def pessimistic_batch(cuts: CutSet, max_duration: float, on_the_fly: bool, extractor: Any = None) -> AsrBatch:
    """The longest cuts that fit in one batch of `max_duration` seconds: the worst case for memory. On the fly, the
    features are `extractor`'s (the encoder's own kind; default: 80-dim fbank)."""
    from lhotse.dataset import K2SpeechRecognitionDataset
    from lhotse.dataset.input_strategies import OnTheFlyFeatures, PrecomputedFeatures

    longest = heapq.nlargest(512, cuts, key=lambda c: c.duration)
    chosen, total = [], 0.0
    for cut in longest:
        if chosen and total + cut.duration > max_duration:
            break
        chosen.append(cut)
        total += cut.duration
    strategy = OnTheFlyFeatures(extractor or _fbank()) if on_the_fly else PrecomputedFeatures()
    dataset = K2SpeechRecognitionDataset(input_strategy=strategy, return_cuts=True)
    return unpack_batch(dataset[CutSet.from_cuts(chosen)])


def _fbank() -> Any:
    from lhotse import Fbank, FbankConfig

    return Fbank(FbankConfig(num_mel_bins=80))


def stats_summary(sums: Dict[str, float]) -> Dict[str, float]:
    """Per-token averages of each loss term in a stats dict (RNN-T and CTC per unit, encoder CTC per character, LID
    per utterance)."""
    counts = ("tokens", "units", "chars", "utterances", "frames")
    tokens = max(sums.get("tokens", 0.0), 1.0)
    out = {k: v / tokens for k, v in sums.items() if k not in counts}
    if "units" in sums:  # the RNN-T and CTC terms per unit, when the units are not the LLM's tokens
        for k in ("rnnt_simple", "rnnt_pruned", "ctc"):
            if k in sums:
                out[k] = sums[k] / max(sums["units"], 1.0)
    if "encoder_ctc" in sums:
        out["encoder_ctc"] = sums["encoder_ctc"] / max(sums.get("chars", 0.0), 1.0)
    if "lid" in sums:
        out["lid"] = sums["lid"] / max(sums.get("utterances", 0.0), 1.0)
    return out
