"""The embedded synthetic Indic long-form corpus: plan (deterministic) → synthesise (parallel) → manifests.

Outputs under `output_dir` (the recipe's `data/`):
  audio/<split>/<lang>/<rec>.flac                 long recordings, 16 kHz mono
  manifests/<split>_recordings.jsonl.gz           lhotse RecordingSet
  manifests/<split>_supervisions.jsonl.gz         lhotse SupervisionSet (normalised text, language, speaker)
  lang/lm_text.txt                                normalised LM text: every sentence except dev/test ones
  lang/lang2id.json                               the fixed language map
  synthetic_info.json                             the options used, counts, hours and skips per split/language
Splits share no sentence (dev/test sentences never reach train or LM text) and no speaker.
The optional `test_unseen` split is the out-of-domain check: sentences from other programs' catalogs
(never in train, dev, test or LM text) read by espeak-ng voice variants no other split uses.
The optional `test_cs` split is the code-switching check: the first test sentences again, each followed by an
English phrase that the same (test) speaker reads, so it pairs with `test` sentence by sentence.
"""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from lhotse import RecordingSet, SupervisionSet
from tqdm import tqdm

from prefixasr.common import PathLike, atomic_write
from prefixasr.data.lang import LanguageMap
from prefixasr.data.longform import RecordingPlan, UttPlan, assemble
from prefixasr.data.manifests import save_manifests
from prefixasr.data.text import normalize_text
from prefixasr.data.tts import UNSEEN_VARIANTS, Speaker, all_speakers

SPLITS = ("train", "dev", "test")
UNSEEN = "test_unseen"
CODE_SWITCHED = "test_cs"
DEFAULT_LANGUAGES = ["bn", "gu", "hi", "kn", "ml", "mr", "or", "pa", "ta", "te"]


@dataclass
class SyntheticConfig:
    languages: List[str] = field(default_factory=lambda: list(DEFAULT_LANGUAGES))
    preset: str = "mini"
    utts: Dict[str, int] = field(default_factory=dict)  # utterances per language per split
    unseen_utts: int = 20  # test_unseen utterances per language (0: no such split)
    cs_utts: int = 20  # test_cs utterances per language (at most the test split's; 0: no such split)
    rec_seconds: Tuple[float, float] = (50.0, 70.0)  # target length range of one long recording
    # the train split's, if not rec_seconds: one speaker per recording, so shorter ones bring more voices per hour
    train_rec_seconds: Optional[Tuple[float, float]] = None
    min_words: int = 4
    max_words: int = 14
    noise_snr: Optional[float] = None
    code_switch_prob: float = 0.0
    seed: int = 42


PRESETS = {
    # mini: a CPU demo in minutes; ~1-minute recordings, ~20 minutes of train speech per language.
    "mini": dict(utts={"train": 300, "dev": 20, "test": 20}, rec_seconds=(50.0, 70.0), max_words=14),
    # full: about two hours of train speech per language; 1–5 minute recordings.
    "full": dict(utts={"train": 2000, "dev": 150, "test": 150}, rec_seconds=(60.0, 300.0), max_words=30),
}


def make_config(preset: str, **overrides) -> SyntheticConfig:
    """Preset values, then any non-None override (the CLI passes None for 'use the preset')."""
    cfg = SyntheticConfig(preset=preset, **PRESETS[preset])
    for k, v in overrides.items():
        if v is not None:
            setattr(cfg, k, v)
    return cfg


def split_sentences(
    sentences: Dict[str, List[str]], cfg: SyntheticConfig
) -> Tuple[Dict[str, Dict[str, List[str]]], Dict[str, List[str]]]:
    """Per language: disjoint train/dev/test sentence lists and the LM text (all but dev/test)."""
    splits: Dict[str, Dict[str, List[str]]] = {s: {} for s in SPLITS}
    lm_text: Dict[str, List[str]] = {}
    for lang in cfg.languages:
        # Dedupe on the normalised form: two spellings of one sentence must not straddle splits.
        uniq: Dict[str, str] = {}
        for s in sentences[lang]:
            norm = normalize_text(s, lang)
            if norm and cfg.min_words <= len(norm.split()) <= cfg.max_words:
                uniq.setdefault(norm, s)
        pool = sorted(uniq.items())
        random.Random(f"{cfg.seed}-{lang}").shuffle(pool)
        need = sum(cfg.utts[s] for s in SPLITS)
        if len(pool) < need:
            raise ValueError(f"language {lang}: {len(pool)} usable sentences ({cfg.min_words}-{cfg.max_words} words), "
                             f"{need} needed for {cfg.utts}")
        n_test, n_dev = cfg.utts["test"], cfg.utts["dev"]
        splits["test"][lang] = [s for _, s in pool[:n_test]]
        splits["dev"][lang] = [s for _, s in pool[n_test: n_test + n_dev]]
        splits["train"][lang] = [s for _, s in pool[n_test + n_dev: need]]
        lm_text[lang] = [norm for norm, _ in pool[n_test + n_dev:]]
    return splits, lm_text


def unseen_sentences(unseen: Dict[str, List[str]], seen: Dict[str, List[str]], cfg: SyntheticConfig
                     ) -> Dict[str, List[str]]:
    """Per language: `cfg.unseen_utts` sentences of the unseen source whose normalised form is in no other split
    nor in the LM text (the same length filter as the other splits)."""
    out = {}
    for lang in cfg.languages:
        taken = {normalize_text(s, lang) for s in seen.get(lang, [])}
        pool = {}
        for s in unseen.get(lang, []):
            norm = normalize_text(s, lang)
            if norm and norm not in taken and cfg.min_words <= len(norm.split()) <= cfg.max_words:
                pool.setdefault(norm, s)
        items = sorted(pool.items())
        random.Random(f"{cfg.seed}-{UNSEEN}-{lang}").shuffle(items)
        out[lang] = [s for _, s in items[: cfg.unseen_utts]]
        if len(out[lang]) < cfg.unseen_utts:
            logging.warning("%s: only %d unseen-source sentences for %s (%d wanted)", UNSEEN, len(out[lang]), lang,
                            cfg.unseen_utts)
    return out


def split_speakers(seed: int) -> Dict[str, List[Speaker]]:
    """Disjoint speaker pools: 10% test, 10% dev, the rest train; test_unseen speaks with other variants."""
    speakers = all_speakers()
    random.Random(seed).shuffle(speakers)
    k = max(1, len(speakers) // 10)
    return {"test": speakers[:k], "dev": speakers[k: 2 * k], "train": speakers[2 * k:],
            UNSEEN: all_speakers(UNSEEN_VARIANTS), CODE_SWITCHED: speakers[:k]}


def _estimate_seconds(text: str, speaker: Speaker) -> float:
    # espeak's -s is words per minute; 0.9 was measured on the harvested text (silence trimmed).
    return 0.9 * len(text.split()) * 60.0 / speaker.speed + 0.2


def plan_recordings(
    splits: Dict[str, Dict[str, List[str]]], english: List[str], cfg: SyntheticConfig, audio_dir: PathLike
) -> List[RecordingPlan]:
    """Group each split's sentences into long recordings, one speaker each (deterministic given the seed)."""
    speakers = split_speakers(cfg.seed)
    plans = []
    for split in splits:
        for lang in cfg.languages:
            rng = random.Random(f"{cfg.seed}-{split}-{lang}")
            sents = list(splits[split][lang])
            switch_prob = 1.0 if split == CODE_SWITCHED else cfg.code_switch_prob
            seconds = cfg.train_rec_seconds if split == "train" and cfg.train_rec_seconds else cfg.rec_seconds
            while sents:
                spk = rng.choice(speakers[split])
                target, total, utts = rng.uniform(*seconds), 0.0, []
                while sents and total < target:
                    text = sents.pop(0)
                    en = rng.choice(english) if english and rng.random() < switch_prob else None
                    utts.append(UttPlan(text, en))
                    total += _estimate_seconds(text, spk) + 0.75
                rec_id = f"{split}_{lang}_{len([p for p in plans if p.split == split and p.lang == lang]):04d}"
                plans.append(RecordingPlan(rec_id, split, lang, spk, utts, seed=rng.randrange(2**31),
                                           noise_snr=cfg.noise_snr, audio_dir=str(audio_dir)))
    return plans


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)  # one core per worker; the pool is the parallelism


def build_corpus(
    sentences: Dict[str, List[str]], english: List[str], cfg: SyntheticConfig, output_dir: PathLike, num_jobs: int = 2,
    unseen: Optional[Dict[str, List[str]]] = None,
) -> Dict:
    """Synthesise the corpus into `output_dir`; returns the summary also written to synthetic_info.json.

    `unseen`: sentences of another text source for the test_unseen split (none: no such split).
    The test_cs split needs English phrases (`english`); without them it is left out with a warning.
    """
    out = Path(output_dir)
    if cfg.code_switch_prob > 0 and not english:
        logging.warning("code-switch probability %.2f but no English phrases: no code-switching", cfg.code_switch_prob)
    splits, lm_text = split_sentences(sentences, cfg)
    if unseen and cfg.unseen_utts > 0:
        splits[UNSEEN] = unseen_sentences(unseen, sentences, cfg)
    if cfg.cs_utts > 0 and english:
        splits[CODE_SWITCHED] = {lang: splits["test"][lang][: cfg.cs_utts] for lang in cfg.languages}
    elif cfg.cs_utts > 0:
        logging.warning("no English phrases: no %s split", CODE_SWITCHED)
    plans = plan_recordings(splits, english, cfg, out / "audio")
    logging.info("synthesising %d long recordings, %d languages, %d jobs", len(plans), len(cfg.languages), num_jobs)
    results = {}
    skipped: List[str] = []
    t0 = time.time()
    ctx = mp.get_context("fork")
    with ctx.Pool(num_jobs, initializer=_worker_init) as pool:
        bar = tqdm(pool.imap_unordered(assemble, plans), total=len(plans), desc="synthesis", unit="rec")
        audio_s = 0.0
        for rec, sups, skips in bar:
            results[rec.id] = (rec, sups)
            skipped.extend(skips)
            audio_s += rec.duration
            bar.set_postfix(audio_h=f"{audio_s / 3600:.2f}", rtf=f"{audio_s / max(time.time() - t0, 1e-6):.0f}x")
    elapsed = time.time() - t0
    for msg in skipped:
        logging.warning("skipped %s", msg)

    stats: Dict = {"config": asdict(cfg), "splits": {}, "skipped": len(skipped)}
    for split in splits:
        recs = [results[p.rec_id][0] for p in plans if p.split == split]
        sups = [s for p in plans if p.split == split for s in results[p.rec_id][1]]
        save_manifests(RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups), out / "manifests", split)
        stats["splits"][split] = {
            lang: {
                "recordings": sum(r.id.startswith(f"{split}_{lang}_") for r in recs),
                "utterances": sum(s.language == lang for s in sups),
                "speech_hours": round(sum(s.duration for s in sups if s.language == lang) / 3600, 4),
                "audio_hours": round(sum(r.duration for r in recs if r.id.startswith(f"{split}_{lang}_")) / 3600, 4),
            }
            for lang in cfg.languages
        }
    with atomic_write(out / "lang" / "lm_text.txt") as f:
        f.writelines(t + "\n" for lang in cfg.languages for t in lm_text[lang])
    LanguageMap.from_languages(cfg.languages).save(out / "lang" / "lang2id.json")
    total = sum(r.duration for r, _ in results.values())
    stats["audio_hours"] = round(total / 3600, 4)
    stats["seconds"] = round(elapsed, 2)
    stats["real_time_factor"] = round(total / max(elapsed, 1e-6), 1)
    with atomic_write(out / "synthetic_info.json") as f:
        json.dump(stats, f, ensure_ascii=False, indent=2)
    logging.info("synthetic corpus: %.2f h of audio in %.1f s (%.0fx real time), %d skipped utterance(s)",
                 total / 3600, elapsed, stats["real_time_factor"], len(skipped))
    return stats

