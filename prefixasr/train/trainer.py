"""The training loop: DDP, accumulation, bf16 autocast, non-finite skipping, checkpoints, resume, logging."""
from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from torch.nn.parallel import DistributedDataParallel

from prefixasr.checkpoints import load_checkpoint
from prefixasr.data.batch import AsrBatch
from prefixasr.data.datamodule import AsrDataModule, unpack_batch
from prefixasr.data.features import FRAME_SHIFT, check_feature_kind, feature_frame_shift
from prefixasr.data.vocab import Vocabularies
from prefixasr.model.extractors import extractor_for
from prefixasr.train import checkpoint as ckpt
from prefixasr.train.data import (CutFilter, batch_targets, max_tokens_per_frame, pessimistic_batch, stats_summary,
                                 total_duration)
from prefixasr.train.dist import DistInfo, all_reduce_sum, all_true
from prefixasr.train.optim import build_optimizer, build_scheduler
from prefixasr.train.validation import History, dev_subset, greedy_cer, log_table



class BatchTooLarge(RuntimeError):
    pass


def _is_oom(err: BaseException) -> bool:
    msg = str(err).lower()
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in msg or "can't allocate" in msg


class Trainer:
    def __init__(self, cfg: Dict[str, Any], exp_dir: Path, model: torch.nn.Module, vocabs: Any, lang_map: Any,
                 train_cuts: Any, valid_cuts: Optional[Any], info: DistInfo, char_tokenizer: Any = None) -> None:
        """`vocabs`: the system's Vocabularies (data/vocab.py), or one tokenizer shared by the LLM and the units."""
        self.cfg, self.t = cfg, cfg["train"]
        self.exp_dir, self.info = Path(exp_dir), info
        self.vocabs = Vocabularies.of(vocabs, char_tokenizer)
        self.lang_map, self.char_tokenizer = lang_map, self.vocabs.chars
        self.model = model.to(info.device)
        self.ddp = (
            DistributedDataParallel(self.model, device_ids=[info.device.index] if info.device.type == "cuda" else None)
            if info.distributed else self.model
        )
        self.optimizer = build_optimizer(self.model, self.t["lr"], self.t["weight_decay"], self.t["betas"],
                                         self.t["lr_scales"])
        loader = {**cfg["data"]["loader"], "world_size": info.world_size, "rank": info.rank}
        on_the_fly = bool(loader.get("on_the_fly_feats"))
        for cuts in (train_cuts, valid_cuts):  # features of the kind the encoder reads (their first cut), or stop
            check_feature_kind(cuts, model.encoder, on_the_fly)
        self.frame_shift = FRAME_SHIFT if on_the_fly else feature_frame_shift(train_cuts)  # seconds a feature frame
        self.extractor = extractor_for(model.encoder, cfg["model"]["input_dim"]) if on_the_fly else None
        self.datamodule = AsrDataModule.from_dict(loader, extractor=self.extractor)
        m = cfg["model"]
        filter_args = (self.vocabs, cfg["data"]["min_duration"], cfg["data"]["max_duration_utt"],
                       m["projector"]["stack"], max_tokens_per_frame(m), self.char_tokenizer,
                       model.encoder.output_lengths)
        self.cut_filter, self.valid_filter = CutFilter(*filter_args), CutFilter(*filter_args)
        self.train_cuts = train_cuts.filter(self.cut_filter)
        self.scheduler = build_scheduler(self.optimizer, self.t["warmup_steps"], self.t["schedule"],
                                         self._total_steps() if self.t["schedule"] == "linear" else 0)
        self.valid_cuts = None if valid_cuts is None else valid_cuts.filter(self.valid_filter)
        # the CER subset is not filtered: it is scored like a test set
        self.cer_cuts = (dev_subset(valid_cuts, self.t["valid_cer_utts"])
                         if valid_cuts is not None and self.t["valid_cer_utts"] > 0 and info.is_main else None)
        self.history = History()
        self.elapsed = 0.0  # seconds of training and validation, over resumes
        self._epoch_sums: Dict[str, float] = {}
        self.use_amp = info.device.type == "cuda" and self.t["amp"] == "bf16"
        self.step, self.epoch, self.batch_in_epoch = 0, 1, 0
        self.counters = {"nonfinite_batches": 0, "nonfinite_grads": 0}
        self._sampler_state: Optional[Dict[str, Any]] = None
        self._pending_rng: Optional[Dict[str, Any]] = None
        self._train_dl: Any = None
        self._last_grad_norm = 0.0
        # for the ETA: seconds of audio in one epoch, and handed out so far in this one (all ranks)
        self._epoch_audio = total_duration(train_cuts) if info.is_main else 0.0
        self._audio_in_epoch = 0.0
        self.tb = None
        if info.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.exp_dir / "tensorboard"))

    def _total_steps(self) -> int:
        """Optimiser steps of num_epochs epochs of epoch 1's batches, for a schedule that ends with the run.

        max_steps does not shorten it: a run stopped there (a test, a kill) resumes on the same schedule. A resume
        with more num_epochs stretches it, so the learning rate rises again from where the old schedule had it.
        """
        batches = self.datamodule.count_train_batches(self.train_cuts, epoch=1)
        self.cut_filter.counts.clear()  # counted again by the first epoch
        total = self.t["num_epochs"] * max(1, batches // self.t["accum_grad"])
        logging.info("schedule %s: %d steps (%d batches an epoch)", self.t["schedule"], total, batches)
        return total

    # ---- state ----------------------------------------------------------------------------------
    def _sampler_state_now(self) -> Dict[str, Any]:
        """The sampler state at the *consumed* batch: DataLoader workers prefetch ahead of training."""
        state = self._train_dl.sampler.state_dict()
        stats = state["diagnostics"]["stats_per_epoch"][state["diagnostics"]["current_epoch"]]
        stats["kept_batches"], stats["discarded_batches"] = self.batch_in_epoch, 0
        return state

    def save(self, path: Path, epoch_done: bool) -> None:
        if not self.info.is_main:
            return
        ckpt.save_checkpoint(
            path, model=self.model.saved_state(), optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(), sampler=None if epoch_done else self._sampler_state_now(),
            step=self.step, epoch=self.epoch, epoch_done=epoch_done, batch_in_epoch=self.batch_in_epoch,
            counters=dict(self.counters), history=self.history.rows, elapsed=self.elapsed,
        )

    def resume(self, path: Path) -> None:
        state = load_checkpoint(path)
        self.model.load_saved_state(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.counters = state["step"], state["counters"]
        self.history, self.elapsed = History(state.get("history")), float(state.get("elapsed", 0.0))
        if state["epoch_done"]:
            self.epoch, self.batch_in_epoch, self._sampler_state = state["epoch"] + 1, 0, None
        else:
            self.epoch, self.batch_in_epoch, self._sampler_state = state["epoch"], state["batch_in_epoch"], state["sampler"]
        # applied once the epoch's DataLoader iterator exists: creating it draws from the RNG
        self._pending_rng = state["rng"]
        logging.info("resumed from %s: epoch %d, batch %d, step %d", path, self.epoch, self.batch_in_epoch, self.step)

    # ---- one batch ------------------------------------------------------------------------------
    def _forward(self, batch: AsrBatch, module: torch.nn.Module):
        targets, lang_ids, chars, units = batch_targets(batch, self.vocabs, self.lang_map)
        dev = self.info.device
        ctx = torch.autocast("cuda", dtype=torch.bfloat16) if self.use_amp else nullcontext()
        with ctx:
            return module(batch.features.to(dev), batch.feature_lens.to(dev), targets, lang_ids.to(dev), step=self.step,
                          char_targets=chars, unit_targets=units)

    def scan_pessimistic_batch(self) -> None:
        """Forward+backward the largest possible batch once, so memory trouble shows now, not at hour 3."""
        max_dur = float(self.datamodule.config.max_duration)
        batch = pessimistic_batch(self.train_cuts, max_dur, self.datamodule.config.on_the_fly_feats, self.extractor)
        try:
            loss, _ = self._forward(batch, self.model)
            loss.backward()
        except RuntimeError as err:
            if _is_oom(err):
                raise BatchTooLarge(
                    f"the largest batch ({len(batch)} cuts, {batch.feature_lens.sum().item() * self.frame_shift:.0f}s) "
                    f"does not fit in memory: lower data.loader.max_duration (now {max_dur:g})"
                ) from None
            raise
        finally:
            self.optimizer.zero_grad(set_to_none=True)
        logging.info("pessimistic batch (%d cuts) fits in memory", len(batch))

    # ---- loops ----------------------------------------------------------------------------------
    def fit(self) -> None:
        if self.step == 0 and self.t["scan_pessimistic_batches"]:
            self.scan_pessimistic_batch()
        while self.epoch <= self.t["num_epochs"] and not self._done():
            t0 = time.time()
            finished = self._train_epoch()
            self.elapsed += time.time() - t0
            if not finished:  # stopped by max_steps inside the epoch
                self.save(self.exp_dir / f"checkpoint-{self.step}.pt", epoch_done=False)
                break
            t0 = time.time()
            self._record_epoch(self.validate())
            self.elapsed += time.time() - t0
            self.save(self.exp_dir / f"epoch-{self.epoch}.pt", epoch_done=True)
            self.epoch, self.batch_in_epoch, self._sampler_state = self.epoch + 1, 0, None
        if self.tb is not None:
            self.tb.close()
        logging.info("training done: %d steps; skipped batches: %s", self.step, self.counters)
        if self.info.is_main and self.history.rows:
            log_table(self.history)  # last, so train.log ends with the per-epoch table

    def _done(self) -> bool:
        return 0 < self.t["max_steps"] <= self.step

    def _train_epoch(self) -> bool:
        """One (possibly resumed) epoch; False when max_steps stopped it before the data ran out."""
        self.model.train()
        resumed = self._sampler_state is not None
        self._train_dl = self.datamodule.train_dataloader(self.train_cuts, sampler_state=self._sampler_state)
        if self._sampler_state is None:
            self._train_dl.sampler.set_epoch(self.epoch)
        self.cut_filter.counts.clear()
        self._audio_in_epoch = 0.0
        batches = iter(self._train_dl)
        if self._pending_rng is not None:
            ckpt.set_rng_state(self._pending_rng)
            self._pending_rng = None
        accum = self.t["accum_grad"]
        self.optimizer.zero_grad(set_to_none=True)  # drop a partial accumulation left by the last epoch
        sums: Dict[str, float] = {}
        self._epoch_sums = {}
        t0, micro = time.time(), 0
        for raw in batches:
            batch = unpack_batch(raw)
            self.batch_in_epoch += 1
            micro += 1
            sync = micro % accum == 0
            no_sync = self.ddp.no_sync if (self.info.distributed and not sync) else nullcontext
            with no_sync():
                loss, stats = self._forward(batch, self.ddp)
                if not all_true(bool(torch.isfinite(loss)), self.info):
                    self.counters["nonfinite_batches"] += 1
                    logging.warning("non-finite loss: skipping batch %d (cuts %s); %d skipped so far",
                                    self.batch_in_epoch, ",".join(batch.cut_ids), self.counters["nonfinite_batches"])
                    self.optimizer.zero_grad(set_to_none=True)
                    micro = 0
                    continue
                (loss / accum).backward()
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v
                self._epoch_sums[k] = self._epoch_sums.get(k, 0.0) + v
            if not sync:
                continue
            self._optimizer_step()
            if self.step % self.t["log_interval"] == 0:
                self._log(all_reduce_sum(sums, self.info), time.time() - t0)
                sums, t0 = {}, time.time()
            if self.t["save_every_n"] > 0 and self.step % self.t["save_every_n"] == 0:
                self.save(self.exp_dir / f"checkpoint-{self.step}.pt", epoch_done=False)
                if self.info.is_main:
                    ckpt.prune_step_checkpoints(self.exp_dir, self.t["keep_last_n"])
            if self._done():
                return False
        logging.info("epoch %d: %d batches; cuts skipped by filters: %s", self.epoch, self.batch_in_epoch,
                     self.cut_filter.report())
        if self.batch_in_epoch == 0 and not resumed:
            raise ValueError(f"epoch {self.epoch} had no training batches (cuts skipped: {self.cut_filter.report()}): "
                             "check data.train_cuts, or set data.loader.drop_last=false / lower max_duration")
        return True

    def _optimizer_step(self) -> None:
        norm = torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad],
                                              self.t["grad_clip"])
        if not math.isfinite(float(norm)):
            self.counters["nonfinite_grads"] += 1
            logging.warning("non-finite gradient norm at step %d: update skipped", self.step)
        else:
            self.optimizer.step()
        self._last_grad_norm = float(norm)
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.step += 1

    def _log(self, sums: Dict[str, float], elapsed: float) -> None:
        if not self.info.is_main:
            return
        audio = sums.get("frames", 0.0) * self.frame_shift
        self._audio_in_epoch += audio
        rate = audio / max(elapsed, 1e-9)  # seconds of audio per second, all ranks together
        left = (self.t["num_epochs"] - self.epoch + 1) * self._epoch_audio - self._audio_in_epoch
        avg = stats_summary(sums)
        lr = self.scheduler.get_last_lr()[0]
        terms = " ".join(f"{k}={v:.4f}" for k, v in sorted(avg.items()))
        logging.info("epoch %d step %d batch %d | %s | lr %.2e grad_norm %.2f | %.1f audio-s/s ETA %s",
                     self.epoch, self.step, self.batch_in_epoch, terms, lr, self._last_grad_norm,
                     rate, _fmt_eta(max(0.0, left) / max(rate, 1e-9)))
        for k, v in avg.items():
            self.tb.add_scalar(f"train/{k}", v, self.step)
        self.tb.add_scalar("train/lr", lr, self.step)
        self.tb.add_scalar("train/grad_norm", self._last_grad_norm, self.step)
        self.tb.add_scalar("train/audio_sec_per_sec", rate, self.step)

    @torch.no_grad()
    def validate(self) -> Dict[str, float]:
        if self.valid_cuts is None:
            return {}
        self.model.eval()
        sums: Dict[str, float] = {}
        for raw in self.datamodule.valid_dataloader(self.valid_cuts):
            _, stats = self._forward(unpack_batch(raw), self.model)
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v
        self.model.train()
        avg = stats_summary(all_reduce_sum(sums, self.info))
        if self.info.is_main:
            logging.info("epoch %d validation: %s", self.epoch, " ".join(f"{k}={v:.4f}" for k, v in sorted(avg.items())))
            for k, v in avg.items():
                self.tb.add_scalar(f"valid/{k}", v, self.step)
        return avg

    def _record_epoch(self, valid: Dict[str, float]) -> None:
        """Dev CER of every greedy search, then one history row (train.log, tensorboard, history.json, PNG)."""
        if not self.info.is_main:
            return
        cer: Dict[str, float] = {}
        if self.cer_cuts is not None:
            t0 = time.time()
            cer = greedy_cer(self.model, self.cer_cuts, self.vocabs, self.lang_map, self.info.device,
                             extractor=self.extractor)
            logging.info("epoch %d dev CER on %d utterances (greedy): %s (%.1f s)", self.epoch, len(self.cer_cuts),
                         " ".join(f"{m}={v:.2f}%" for m, v in cer.items()), time.time() - t0)
            for m, v in cer.items():
                self.tb.add_scalar(f"valid/cer_{m}", v, self.step)
        train = stats_summary(self._epoch_sums)
        row: Dict[str, Any] = {"epoch": self.epoch, "step": self.step, "minutes": round(self.elapsed / 60, 2)}
        row.update({f"train_{k}": round(v, 4) for k, v in sorted(train.items())})
        row.update({f"valid_{k}": round(v, 4) for k, v in sorted(valid.items())})
        row.update({f"cer_{m}": v for m, v in cer.items()})
        self.history.add(row)
        self.history.save(self.exp_dir / "history.json")
        self.history.plot(self.exp_dir / "learning_curve.png", title=self.exp_dir.name)


def _fmt_eta(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"
