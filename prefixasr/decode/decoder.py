"""Decode with a loaded system: segment batches, or whole recordings cut at pauses (joined) or in overlapping
windows (stitched), the pieces decoded in batches. Shared by prefixasr.bin.decode and prefixasr.inference, so a file
transcribed through the Python API gives the decode tool's words."""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, List, Optional, Tuple

import torch
from tqdm import tqdm

from prefixasr.data.features import FRAME_SHIFT
from prefixasr.data.text import script_languages
from prefixasr.decode.longform import SPLITS, Word, make_windows, pause_segments, stitch
from prefixasr.decode.ngram import NgramLM
from prefixasr.decode.runner import (DecodeOptions, Decoded, check_method, decode_batch, default_method,
                                     feature_windows, force_batch, strip_special, timed_words)
from prefixasr.decode.script_mask import script_mask, word_starts
from prefixasr.decode.writer import DecodeDirWriter
from prefixasr.decode.settings import DECODE_DEFAULTS

if TYPE_CHECKING:
    from lhotse import CutSet
    from lhotse.cut import Cut

    from prefixasr.data.datamodule import AsrBatch
    from prefixasr.model import LoadedModel

log = logging.getLogger("decode")
LANGID_MODES = ("oracle", "predicted")


@dataclass
class LongFormResult:
    """One recording decoded in windows. Times are unrounded seconds; rounding is the writers' job."""
    words: List[Word]
    language: Optional[str]  # the language whose prompt was used (as given, or predicted)
    lang_logits: Optional[torch.Tensor] = None  # (L,) mean language_scores over the windows, when predicted

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def lang_probs(self) -> Optional[torch.Tensor]:
        return None if self.lang_logits is None else self.lang_logits.softmax(-1)

    @property
    def language_prob(self) -> Optional[float]:
        """Posterior of the predicted language (None when the language was given)."""
        probs = self.lang_probs
        return None if probs is None else float(probs.max())


class Decoder:
    """Holds the loaded model and options; turns cuts or features into results."""

    def __init__(self, loaded: "LoadedModel", opts: DecodeOptions, langid: str = "oracle", device: str = "cpu"):
        if langid not in LANGID_MODES:
            raise ValueError(f"langid must be one of {LANGID_MODES}, got {langid!r}")
        self.model, self.tok, self.lang_map = loaded.model, loaded.tokenizer, loaded.lang_map
        opts = with_system_defaults(opts, loaded.config.get("decode", {}), self.model)
        opts, self.ngram = _resolve_ngram(opts, loaded)
        self.opts, self.langid, self.device = opts, langid, device
        self.frame_shift = FRAME_SHIFT  # seconds a feature frame (decode_cuts: the cuts' own; 20 ms for cached outputs)
        check_method(self.model, opts.method, opts.llm.ctc_weight)
        self.blank_id = self.model.transducer.blank_id if self.model.transducer is not None else None
        self.vocabs = loaded.vocabs  # each method writes its own vocabulary (data/vocab.py)
        if opts.method.startswith("rnnt"):  # the RNN-T writes the units
            self.tok = self.vocabs.units
        if opts.method == "ctc_greedy":  # the encoder CTC writes characters, not the LLM's tokens
            if loaded.char_tokenizer is None:
                raise ValueError("ctc_greedy: the experiment dir has no character tokenizer (exp_files.char_tokenizer)")
            self.tok, self.blank_id = loaded.char_tokenizer, self.model.encoder_ctc.blank_id
        self.char_tok = loaded.char_tokenizer
        self.vocab_mask = self.ctc_mask = None
        if opts.script_mask and opts.method != "ctc_greedy":
            languages = self.lang_map.languages
            self.vocab_mask = script_mask(self.tok, languages).to(device)
            if self.char_tok is not None and self.model.encoder_ctc is not None:
                self.ctc_mask = (self.vocab_mask if self.char_tok is self.tok
                                 else script_mask(self.char_tok, languages).to(device))
        self.word_starts = None  # the tokens the word insertion penalty charges (LLM methods)
        if opts.llm.word_penalty and opts.method.startswith("llm"):
            self.word_starts = word_starts(self.tok).to(device)
        if langid == "predicted":
            self._check_lid()

    def _check_lid(self) -> None:
        if self.model.lid_head is None:
            raise ValueError("--langid predicted: this system has no language-ID head")

    def language_scores(self, feats: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        """(B, L) language log-probabilities from the LID head. With an encoder CTC, a language not written in
        the script of most letters the CTC reads is ruled out (-1e4): the head alone confuses languages that
        their scripts tell apart, and only languages sharing a script (hi/mr) are left to it."""
        enc, enc_lens = self.model.encoder(feats, lens)
        scores = self.model.lid_head(enc, enc_lens).float().log_softmax(-1)
        if self.model.encoder_ctc is None or self.char_tok is None:
            return scores
        languages = self.lang_map.languages
        for row, (chars, _) in enumerate(self.model.encoder_ctc.greedy(enc, enc_lens)):
            kept = set(script_languages(self.char_tok.decode(chars), languages))
            for k, lang in enumerate(languages):
                if lang not in kept:
                    scores[row, k] -= 1e4
        return scores

    def lang_id(self, lang: Optional[str], what: str) -> int:
        """The prompt id of a given language; `what` ("utterance X", "recording X") names the culprit."""
        if lang in self.lang_map:
            return self.lang_map.index(lang)
        if self.model.soft_prompt is not None and self.model.soft_prompt.prompt_type == "langid":
            raise ValueError(f"{what}: language {lang!r} is not in the model's lang2id map "
                             f"({', '.join(self.lang_map.languages)})")
        return 0  # no per-language prompt: the id is not used

    def _given_lang_ids(self, batch: "AsrBatch") -> torch.Tensor:
        ids = [self.lang_id(lang, f"utterance {utt}") for lang, utt in zip(batch.languages, batch.cut_ids)]
        return torch.tensor(ids, dtype=torch.long, device=self.device)

    @torch.inference_mode()
    def search_errors(self, batch: "AsrBatch") -> List[dict]:
        """Each utterance's 1-best by this decoder's LLM search and its reference (the LLM's tokens of its text),
        both scored as the search ranks them (decode/forced.py), with the given languages: records (utt, lang,
        ref, hyp, the search's own score of its 1-best, and per side its ranking score, total, parts, missed
        candidates and reachability)."""
        if not self.opts.method.startswith("llm"):
            raise ValueError(f"{self.opts.method}: forced scoring follows the LLM's search (llm_beam, llm_greedy)")
        feats, lens = batch.features.to(self.device), batch.feature_lens.to(self.device)
        lang_ids = self._given_lang_ids(batch)
        masks = (self.vocab_mask, self.ngram, self.word_starts, self.ctc_mask, self.vocabs)
        hyps = decode_batch(self.model, feats, lens, lang_ids, self.opts, *masks)
        hyps = [strip_special(d, self.tok, self.blank_id) for d in hyps]
        refs = [self.tok.encode(text) for text in batch.texts]
        sides = {side: force_batch(self.model, feats, lens, lang_ids, self.opts, seqs, *masks)
                 for side, seqs in (("ref", refs), ("hyp", [d.tokens for d in hyps]))}
        out = []
        for k, utt in enumerate(batch.cut_ids):
            rec = {"utt": utt, "lang": batch.languages[k], "ref": batch.texts[k], "hyp": self._clean(hyps[k])[0],
                   "beam_score": hyps[k].score}  # the search's own (None for greedy search without a scorer)
            for side, scores in sides.items():
                f = scores[k]
                rec[side + "_score"] = {"ranked": f.ranked, "total": f.total, "tokens": len(f.tokens),
                                        "parts": f.parts, "missed": f.missed, "reachable": f.reachable}
            out.append(rec)
        return out

    def _clean(self, d: Decoded) -> Tuple[str, Decoded]:
        d = strip_special(d, self.tok, self.blank_id)
        # one line of words: a pretrained LLM's vocabulary holds newlines, tabs and runs of spaces
        return " ".join(self.tok.decode(d.tokens).split()), d

    @torch.inference_mode()
    def segments(self, batch: "AsrBatch") -> List[dict]:
        """Decode a batch of segments into decode-dir records (utt, lang, ref, hyp, duration[, pred_lang])."""
        feats, lens = batch.features.to(self.device), batch.feature_lens.to(self.device)
        pred = None
        if self.model.lid_head is not None:  # measured on every decode (LID accuracy); used with --langid predicted
            pred_ids = self.language_scores(feats, lens).argmax(-1)
            pred = [self.lang_map.language(int(i)) for i in pred_ids]
        lang_ids = pred_ids if self.langid == "predicted" else self._given_lang_ids(batch)
        out = []
        for k, d in enumerate(decode_batch(self.model, feats, lens, lang_ids, self.opts, self.vocab_mask,
                                           self.ngram, self.word_starts, self.ctc_mask, self.vocabs)):
            rec = {"utt": batch.cut_ids[k], "lang": batch.languages[k], "ref": batch.texts[k],
                   "hyp": self._clean(d)[0], "duration": float(batch.feature_lens[k]) * self.frame_shift}
            if pred is not None:
                rec["pred_lang"] = pred[k]
            out.append(rec)
        return out

    def default_split(self) -> str:
        """How a long recording is cut when nobody says: the LLM methods read segments cut at the encoder CTC's
        pauses (sentences, as they were trained on), the others overlapping windows (their word times are exact,
        so stitching is safe). Without an encoder CTC there are no pauses to find: windows."""
        llm = self.opts.method.startswith("llm")
        return "pauses" if llm and self.model.encoder_ctc is not None else "windows"

    def resolve_split(self, split: Optional[str]) -> str:
        """`split` checked against this system (None: `default_split()`), so a bad choice fails before decoding."""
        split = split or self.default_split()
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if split == "pauses" and self.model.encoder_ctc is None:
            raise ValueError("--split pauses needs an encoder CTC to find the pauses; this system has none")
        return split

    def _batches(self, feats: torch.Tensor, frames: List[Tuple[int, int]], max_duration: float):
        """Consecutive frame ranges of `feats` as padded (chunk, x, lens) batches of at most `max_duration` s."""
        limit = max(1, int(max_duration / self.frame_shift))
        k = 0
        while k < len(frames):
            n, longest = 1, frames[k][1] - frames[k][0]
            while k + n < len(frames):
                longest2 = max(longest, frames[k + n][1] - frames[k + n][0])
                if (n + 1) * longest2 > limit:
                    break
                n, longest = n + 1, longest2
            chunk = frames[k : k + n]
            lens = torch.tensor([e - s for s, e in chunk], dtype=torch.long)
            x = torch.zeros(len(chunk), int(lens.max()), feats.size(1))
            for i, (s, e) in enumerate(chunk):
                x[i, : e - s] = feats[s:e]
            yield chunk, x.to(self.device), lens.to(self.device)
            k += n

    @torch.inference_mode()
    def pauses(self, feats: torch.Tensor, max_duration: float, chunk: float = 30.0, **kw) -> List[Tuple[float, float]]:
        """Speech segments (seconds) of a (T, F) recording: the encoder CTC's blank frames, read in `chunk` s
        pieces, cut at pauses (`longform.pause_segments`; `kw` its options)."""
        self.resolve_split("pauses")
        n, step = feats.size(0), int(round(chunk / self.frame_shift))
        frames = [(s, min(s + step, n)) for s in range(0, n, step)]
        # feature frames per encoder frame, of the encoder in use (x4 for the Conformer, x2 for Whisper)
        ratio = step / max(int(self.model.encoder.output_lengths(torch.tensor(step))), 1)
        blank: List[bool] = []
        for part, x, lens in self._batches(feats, frames, max_duration):
            enc, enc_lens = self.model.encoder(x, lens)
            best = self.model.encoder_ctc.proj(enc).argmax(-1) == self.model.encoder_ctc.blank_id
            for (s, e), row, m in zip(part, best.tolist(), enc_lens.tolist()):
                want = int(round((e - s) / ratio))  # the encoder drops a frame or two at a chunk's end
                blank += (row[:m] + [True] * want)[:want]
        end = n * self.frame_shift  # whole encoder frames can reach a little past the last feature frame
        return [(s, min(e, end)) for s, e in pause_segments(blank, ratio * self.frame_shift, **kw) if s < end]

    @torch.inference_mode()
    def long_form(self, feats: torch.Tensor, lang: Optional[str], name: str, window: float, overlap: float,
                  max_duration: float, predict: Optional[bool] = None, split: Optional[str] = None) -> LongFormResult:
        """Decode a (T, F) feature matrix cut into pieces (`split`: "windows" of `window` s overlapping by
        `overlap` s, stitched; or "pauses", segments cut at pauses, joined; default `default_split()`), at most
        `max_duration` s per batch. `predict` (default: this decoder's --langid) picks the language with the
        language-ID head instead of using `lang`."""
        predict = self.langid == "predicted" if predict is None else predict
        split = self.resolve_split(split)
        if predict:
            self._check_lid()
        n = feats.size(0)
        if split == "pauses":
            spans = self.pauses(feats, max_duration)
        else:
            spans = make_windows(n * self.frame_shift, window, overlap)
        batches = list(self._batches(feats, feature_windows(n, spans, self.frame_shift), max_duration))
        logits = None
        if predict and batches:
            # one language per recording, from all pieces, chosen before any piece is decoded
            total = torch.stack([self.language_scores(x, lens).sum(0) for _, x, lens in batches]).sum(0).float().cpu()
            lang_id = int(total.argmax())
            lang, logits = self.lang_map.language(lang_id), total / len(spans)
        elif predict:  # no speech found: no language to predict, nothing to decode
            lang_id, lang = 0, None
        else:
            lang_id = self.lang_id(lang, f"recording {name}")
        hyps = []
        for chunk, x, lens in batches:
            ids = torch.full((x.size(0),), lang_id, dtype=torch.long, device=self.device)
            decoded = decode_batch(self.model, x, lens, ids, self.opts, self.vocab_mask, self.ngram,
                                   self.word_starts, self.ctc_mask, self.vocabs)
            for (s, e), d in zip(chunk, decoded):
                text, d = self._clean(d)
                hyps.append(timed_words(d, text, self.tok, s * self.frame_shift, e * self.frame_shift))
        words = stitch(hyps) if split == "windows" else [w for h in hyps for w in h.words]
        return LongFormResult(words, lang, logits)

    def recording(self, cut: "Cut", window: float, overlap: float, max_duration: float,
                  split: Optional[str] = None) -> dict:
        """Decode a whole recording cut into a decode-dir record (with `ctm`; the language is the first
        supervision's, or predicted with --langid predicted)."""
        feats = torch.as_tensor(cut.load_features(), dtype=torch.float32)
        sups = sorted(cut.supervisions, key=lambda s: s.start)
        lang = sups[0].language if sups else ""
        res = self.long_form(feats, lang, cut.id, window, overlap, max_duration, split=split)
        rec = {"utt": cut.id, "lang": lang, "ref": " ".join(s.text or "" for s in sups), "hyp": res.text,
               "duration": feats.size(0) * self.frame_shift,
               "ctm": [[w.text, round(w.start, 2), round(max(w.end - w.start, 0.01), 2)] for w in res.words]}
        if res.lang_logits is not None:
            rec["pred_lang"] = res.language
        return rec


# DecodeOptions.llm fields that, left None, take the system config's decode.<field>
_LLM_SYSTEM_KEYS = {"ctc_weight": float, "word_penalty": float, "ctc_propose": bool, "length_penalty": float,
                    "ngram_weight": float, "max_tokens_per_frame": float}


def with_system_defaults(opts: DecodeOptions, system: dict, model) -> DecodeOptions:
    """`opts` with each option left None taken from the system config's `decode` section (train/config.py's
    DECODE_DEFAULTS where an older experiment lacks the key), so the decode tool, transcribe and the Python API
    search alike. The n-gram's file is resolved with the LM itself (_resolve_ngram)."""
    def system_value(key: str, cast):
        value = system.get(key)
        return cast(DECODE_DEFAULTS[key] if value is None else value)

    llm = dataclasses.replace(opts.llm, **{key: system_value(key, cast) for key, cast in _LLM_SYSTEM_KEYS.items()
                                           if getattr(opts.llm, key) is None})
    return dataclasses.replace(
        opts, llm=llm, method=opts.method or system.get("method") or default_method(model),
        beam=system_value("beam", int) if opts.beam is None else opts.beam,
        script_mask=system_value("script_mask", bool) if opts.script_mask is None else opts.script_mask)


def _resolve_ngram(opts: DecodeOptions, loaded: "LoadedModel") -> Tuple[DecodeOptions, Optional[NgramLM]]:
    """When the LLM decodes with the n-gram (opts resolved by with_system_defaults), the n-gram LM (--ngram, or the
    experiment's own), checked against the system's units (data/vocab.py)."""
    if not (opts.llm.ngram_weight and opts.method.startswith("llm")):
        return opts, None
    path = opts.ngram or loaded.ngram_path
    if path is None:
        raise ValueError("n-gram fusion (ngram_weight > 0): give --ngram PATH; this experiment has no n-gram LM "
                         "(decode.ngram)")
    lm = NgramLM.load(path)
    units = loaded.vocabs.units  # the n-gram counts the units (the LLM's tokens when they are one vocabulary)
    if lm.vocab_size != units.vocab_size:
        raise ValueError(f"{path}: an n-gram LM over {lm.vocab_size} tokens, but this system's units are "
                         f"{units.vocab_size} (count it with the experiment's tokenizer, data.tokenizer)")
    return dataclasses.replace(opts, ngram=str(path)), lm


def _input_kind(dec: Decoder, cuts: "CutSet"):
    """What `dec` reads from `cuts`: their stored features, checked to be its encoder's kind (never silently fbank
    for Whisper, say), else its encoder's own kind computed from the audio (the extractor returned). Sets
    dec.frame_shift."""
    from prefixasr.data.features import check_feature_kind, feature_frame_shift
    from prefixasr.model.extractors import extractor_for

    if next(iter(cuts)).has_features:
        check_feature_kind(cuts, dec.model.encoder)
        dec.frame_shift = feature_frame_shift(cuts)
        return None
    extractor = extractor_for(dec.model.encoder, dec.model.cfg["input_dim"])
    dec.frame_shift = extractor.frame_shift
    return extractor


def segment_batches(dec: Decoder, cuts: "CutSet", max_duration: float = 100.0,
                    normalize: bool = False) -> Iterable["AsrBatch"]:
    """A non-empty cut set as `dec` reads it, in batches of `max_duration` s of segments, in order; texts as
    written (scoring normalises them), or as training reads them (`normalize`)."""
    from prefixasr.data.datamodule import AsrDataModule, unpack_batch  # lhotse-heavy: only when decoding

    extractor = _input_kind(dec, cuts)
    dm = AsrDataModule(max_duration=max_duration, num_workers=0, world_size=1, rank=0,
                       on_the_fly_feats=extractor is not None, shuffle=False, extractor=extractor)
    for batch in dm.test_dataloader(cuts):
        yield unpack_batch(batch, normalize=normalize)


def decode_cuts(dec: Decoder, cuts: "CutSet", writer: DecodeDirWriter, long_form: bool = False,
                window: float = 30.0, overlap: float = 5.0, max_duration: float = 100.0,
                desc: str = "decode", split: Optional[str] = None) -> float:
    """Decode every cut of a non-empty set (whole recordings with `long_form`, else segment batches of
    `max_duration` s), appending records to `writer` as they come so an interrupted run resumes.
    Returns the seconds of audio decoded."""
    audio, t0 = 0.0, time.time()
    bar = tqdm(total=len(cuts), unit="utt", desc=desc, mininterval=5)

    def records() -> Iterable[List[dict]]:
        if long_form:
            _input_kind(dec, cuts)
            for cut in cuts:
                yield [dec.recording(cut, window, overlap, max_duration, split)]
            return
        for batch in segment_batches(dec, cuts, max_duration):
            yield dec.segments(batch)

    for recs in records():
        writer.append(recs)
        audio += sum(r["duration"] for r in recs)
        bar.update(len(recs))
        bar.set_postfix(rtf=f"{(time.time() - t0) / max(audio, 1e-9):.3f}")
    bar.close()
    if audio:
        log.info("decoded %.1f s of audio in %.1f s: real-time factor %.4f", audio, time.time() - t0,
                 (time.time() - t0) / audio)
    return audio
