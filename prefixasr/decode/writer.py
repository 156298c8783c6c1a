"""Resumable decode-dir writer: per-job partial results, merged into Kaldi-style files at the end.

Layout of a decode dir while jobs run: `.partial/job-<i>-of-<n>.jsonl` (one JSON record per decoded
utterance, appended and fsync'ed per batch) and `.partial/job-<i>-of-<n>.done`. A rerun reads the
partial file, skips what is there (a torn last line from a crash is dropped), and decodes the rest.
When every job is done, the last one merges all records, sorted by utterance id so the final files
do not depend on job count or interruptions, into `text`, `ref`, `utt2lang`, optionally
`utt2lang_pred` and `ctm`, plus `decode_info.json`.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set

from prefixasr.common import PathLike, atomic_write, write_kaldi_map

log = logging.getLogger(__name__)


class DecodeDirWriter:
    def __init__(self, decode_dir: PathLike, job_index: int = 0, num_jobs: int = 1,
                 settings: Optional[dict] = None):
        """`settings` (JSON-able) identify the decode; resuming under other settings is refused,
        so results from, say, another beam size never mix into this one's files."""
        if not 0 <= job_index < num_jobs:
            raise ValueError(f"need 0 <= job_index < num_jobs, got {job_index} of {num_jobs}")
        self.dir = Path(decode_dir)
        self.partial_dir = self.dir / ".partial"
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        self._check_settings(json.loads(json.dumps(settings or {})))
        self.num_jobs = num_jobs
        self.path = self.partial_dir / f"job-{job_index}-of-{num_jobs}.jsonl"
        self.done_flag = self.path.with_suffix(".done")
        self.done: Set[str] = {r["utt"] for r in self._read(self.path, repair=True)}

    def _check_settings(self, settings: dict) -> None:
        path = self.partial_dir / "settings.json"
        if path.exists():
            old = json.loads(path.read_text(encoding="utf-8"))
            if old != settings:
                diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
                raise ValueError(f"{self.dir} holds partial results decoded with other settings ({', '.join(diff)}): "
                                 f"remove {self.partial_dir} or decode elsewhere (--suffix or --decode-dir)")
        else:
            with atomic_write(path) as f:
                json.dump(settings, f, ensure_ascii=False, indent=1)

    @staticmethod
    def _read(path: Path, repair: bool = False) -> List[dict]:
        if not path.exists():
            return []
        records, good_bytes = [], 0
        with open(path, "rb") as f:
            for line in f:
                try:
                    records.append(json.loads(line.decode("utf-8")))
                except (ValueError, UnicodeDecodeError):
                    break  # a line torn by a crash: everything after it is rewritten
                good_bytes += len(line)
        if repair and good_bytes < path.stat().st_size:
            log.warning("%s: dropping a torn last record (interrupted run)", path)
            with open(path, "r+b") as f:
                f.truncate(good_bytes)
        return records

    def append(self, records: Iterable[dict]) -> None:
        """Add decoded utterances (dicts with at least utt, lang, ref, hyp); durable when this returns."""
        lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in records]
        with open(self.path, "a", encoding="utf-8") as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
        self.done.update(json.loads(line)["utt"] for line in lines)

    def finish(self, info: Dict) -> bool:
        """Mark this job done; merge if all jobs are. Returns True when the final files were written."""
        self.done_flag.touch()
        flags = [self.partial_dir / f"job-{i}-of-{self.num_jobs}.done" for i in range(self.num_jobs)]
        if not all(f.exists() for f in flags):
            log.info("%d of %d jobs done; the last one merges", sum(f.exists() for f in flags), self.num_jobs)
            return False
        self.merge(info)
        return True

    def merge(self, info: Dict) -> None:
        records: Dict[str, dict] = {}
        for i in range(self.num_jobs):
            for r in self._read(self.partial_dir / f"job-{i}-of-{self.num_jobs}.jsonl"):
                records[r["utt"]] = r
        utts = sorted(records)
        write_kaldi_map(self.dir / "text", {u: records[u]["hyp"] for u in utts})
        write_kaldi_map(self.dir / "ref", {u: records[u]["ref"] for u in utts})
        write_kaldi_map(self.dir / "utt2lang", {u: records[u]["lang"] or "unk" for u in utts})
        pred = {u: records[u]["pred_lang"] for u in utts if records[u].get("pred_lang")}
        if pred:
            write_kaldi_map(self.dir / "utt2lang_pred", pred)
            correct = sum(pred[u] == records[u]["lang"] for u in pred)
            info = {**info, "langid_accuracy": round(100.0 * correct / len(pred), 2)}
        if any("ctm" in records[u] for u in utts):
            with atomic_write(self.dir / "ctm") as f:
                for u in utts:
                    for word, start, dur in records[u].get("ctm", []):
                        f.write(f"{u} 1 {start:.2f} {dur:.2f} {word}\n")
        info = {**info, "num_utts": len(utts),
                "audio_seconds": round(sum(r.get("duration", 0.0) for r in records.values()), 3)}
        with atomic_write(self.dir / "decode_info.json") as f:
            json.dump(info, f, ensure_ascii=False, indent=1)
        log.info("merged %d utterances from %d job(s) into %s", len(utts), self.num_jobs, self.dir)
