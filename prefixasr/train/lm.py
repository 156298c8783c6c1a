"""LM pre-training: a from-scratch Llama on the recipe's normalised text, packed into fixed blocks; or a
pretrained LLM (`model.pretrained`: its Hugging Face directory, whose tokenizer it keeps) adapted to that text.

Held-out perplexity is logged; the result is a Hugging Face directory that prefix systems load with
`model.llm.type: pretrained`, `model.llm.path: <exp-dir>/hf` (an adapted LLM's with its tokenizer and licence notice).
"""
from __future__ import annotations

import copy
import logging
import math
import random
import shutil
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import torch

from prefixasr.common import atomic_save_torch
from prefixasr.model.config import MODEL_DEFAULTS, merge
from prefixasr.model.llm import build_llm, check_llm_tokenizer, savable
from prefixasr.train.lm_reading import IGNORE, corrupt, reading_forward, reading_rows, token_errors
from prefixasr.train.optim import build_optimizer, build_scheduler

LM_DEFAULTS: Dict[str, Any] = {
    "data": {
        "text": None,  # one normalised sentence per line (data/lang/lm_text.txt)
        "tokenizer": None,  # the sentencepiece model the ASR systems use; a pretrained LLM's own directory
        "valid_fraction": 0.02,  # held-out lines for perplexity
        "valid_max_lines": 300,  # at most this many (perplexity is computed several times)
        "max_lines": 0,  # 0: all lines
    },
    # arch: the from-scratch Llama's; pretrained: a Hugging Face causal LM directory to adapt instead (arch unused)
    "model": {"arch": copy.deepcopy(MODEL_DEFAULTS["llm"]["arch"]), "pretrained": None},
    "train": {
        "seed": 42,
        "device": "auto",
        "block_size": 128,  # tokens per training sequence (sentences are packed, EOS-separated)
        "batch_size": 32,
        "num_steps": 3000,
        "lr": 3.0e-3,
        "betas": [0.9, 0.95],
        "weight_decay": 0.1,
        "warmup_steps": 200,
        "schedule": "invsqrt",  # invsqrt | constant | linear (down to 0 at num_steps)
        "grad_clip": 1.0,
        "log_interval": 50,
        "valid_interval": 500,
        "num_threads": 0,
        # share of each batch given to reading exercises (train/lm_reading.py: noisy copy -> sentence), and
        # the character error rate of their noisy copies; 0 = a plain LM
        "reading_fraction": 0.0,
        "reading_error_rate": 0.2,
        # what the noisy copy corrupts: "tokens" (a character LM's tokens are characters), or "characters" of the
        # text, then tokenised (an LLM of word pieces: the encoder CTC's errors are characters)
        "reading_noise": "tokens",
        # the text's positions restart at the copy's, as stage 7's with projector.align_positions (the recipe's
        # LM); false: they run on, as a pretrained LLM's prefix does (conf/llm/gemma3_270m.yaml)
        "reading_align_positions": True,
    },
}


def lm_config(raw: Dict[str, Any]) -> Dict[str, Any]:
    out = merge({k: v for k, v in LM_DEFAULTS.items() if k != "model"},
                {k: v for k, v in raw.items() if k != "model"})
    model = raw.get("model") or {}
    out["model"] = {"arch": {**LM_DEFAULTS["model"]["arch"], **(model.get("arch") or {})},
                    "pretrained": model.get("pretrained")}
    if out["train"]["reading_noise"] not in ("tokens", "characters"):
        raise ValueError(f"train.reading_noise: {out['train']['reading_noise']!r} is not tokens or characters")
    return out


def build_lm(cfg: Dict[str, Any], tokenizer: Any) -> torch.nn.Module:
    """The from-scratch Llama of `model.arch`, or the pretrained LLM of `model.pretrained` (fp32, to train), which
    must be read with its own tokenizer."""
    path = cfg["model"]["pretrained"]
    if path and not Path(path).is_dir():
        raise FileNotFoundError(f"model.pretrained: {path} is not a Hugging Face model directory")
    llm_cfg = {"type": "pretrained", "path": path} if path else {"type": "scratch", "arch": cfg["model"]["arch"]}
    check_llm_tokenizer(llm_cfg, tokenizer)
    return build_llm(llm_cfg, tokenizer.vocab_size, tokenizer.bos_id, tokenizer.eos_id)


def read_lines(path: str, max_lines: int) -> List[str]:
    if not path or not Path(path).is_file():
        raise FileNotFoundError(f"data.text: LM text file {path!r} does not exist")
    lines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                lines.append(line)
            if 0 < max_lines <= len(lines):
                break
    if len(lines) < 2:
        raise ValueError(f"{path}: needs at least 2 non-empty lines, found {len(lines)}")
    return lines


def pack(lines: Sequence[str], tokenizer: Any, block_size: int) -> torch.Tensor:
    """[BOS] s1 [EOS] [BOS] s2 [EOS] ... cut into (N, block_size) rows (the tail is dropped). Where the tokenizer
    starts every text with BOS (Gemma's), so does every row: such an LLM reads a row without it badly (Gemma 3
    270M's held-out perplexity on the recipe's text is in the thousands without, docs/convergence.md part 33)."""
    ids: List[int] = []
    for line in lines:
        ids.extend([tokenizer.bos_id, *tokenizer.encode(line), tokenizer.eos_id])
    lead = [tokenizer.bos_id] if tokenizer.adds_bos else []
    width = block_size - len(lead)
    n = len(ids) // width
    if n == 0:
        raise ValueError(f"only {len(ids)} tokens: fewer than one block of {block_size}; lower train.block_size")
    rows = torch.tensor(ids[: n * width], dtype=torch.long).view(n, width)
    return torch.cat([torch.tensor(lead, dtype=torch.long).expand(n, -1), rows], dim=1)


def split(lines: List[str], fraction: float, max_valid: int, seed: int) -> Tuple[List[str], List[str]]:
    lines = list(lines)
    random.Random(seed).shuffle(lines)
    n_valid = min(max(1, int(len(lines) * fraction)), max_valid)
    return lines[n_valid:], lines[:n_valid]


@torch.no_grad()
def perplexity(llm: torch.nn.Module, blocks: torch.Tensor, batch_size: int, device: torch.device) -> float:
    llm.eval()
    nll, count = 0.0, 0
    for i in range(0, blocks.size(0), batch_size):
        x = blocks[i : i + batch_size].to(device)
        out = llm(input_ids=x, labels=x)
        n = x.numel() - x.size(0)  # one prediction fewer than tokens per row
        nll += float(out.loss) * n
        count += n
    llm.train()
    return math.exp(nll / max(count, 1))


def save_hf(llm: torch.nn.Module, out_dir: Path, tokenizer: Any = None, source: str | None = None) -> None:
    """save_pretrained into a temp dir, then swap it in: readers never see half a model. An adapted pretrained
    LLM's directory also gets its tokenizer and the licence notice of its `source` directory."""
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    savable(llm).save_pretrained(str(tmp))
    if tokenizer is not None:
        tokenizer.save(tmp)
    if source and (Path(source) / "NOTICE.md").is_file():
        shutil.copy2(Path(source) / "NOTICE.md", tmp / "NOTICE.md")
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)


class Reading:
    """The reading exercises of one run: training rows drawn fresh each step, fixed held-out rows."""

    def __init__(self, train_lines: Sequence[str], valid_lines: Sequence[str], tokenizer: Any, t: Dict[str, Any]):
        self.train = [ids for ids in (tokenizer.encode(l) for l in train_lines) if ids]
        self.tokenizer, self.max_len, self.rate = tokenizer, t["block_size"], t["reading_error_rate"]
        self.by_characters, self.align = t["reading_noise"] == "characters", t["reading_align_positions"]
        self.rng = random.Random(t["seed"])
        valid = [ids for ids in (tokenizer.encode(l) for l in valid_lines) if ids]
        self.valid = self._rows(valid, random.Random(0))

    def _rows(self, sentences: Sequence[List[int]], rng: random.Random) -> Tuple[torch.Tensor, ...]:
        tok = self.tokenizer
        by_chars = (lambda ids: tok.encode("".join(corrupt(list(tok.decode(ids)), self.rate, rng)))) \
            if self.by_characters else None
        return reading_rows(sentences, tok.bos_id, tok.eos_id, self.max_len, self.rate, rng, noisy_copy=by_chars,
                            leading_bos=tok.adds_bos, restart_positions=self.align)

    def loss(self, llm: torch.nn.Module, n: int, device: torch.device) -> torch.Tensor:
        rows = self._rows(self.rng.sample(self.train, n), self.rng)
        return reading_forward(llm, rows, device)[0].loss

    @torch.no_grad()
    def report(self, llm: torch.nn.Module, device: torch.device) -> str:
        """Held-out reading loss per token and the share of tokens whose argmax is wrong (teacher-forced),
        against the noisy copy's own error rate: a reader worth freezing writes fewer errors than it reads."""
        llm.eval()
        nll, wrong, count = 0.0, 0.0, 0
        for i in range(0, self.valid[0].size(0), 16):  # 16 rows at once: a 262k-token LLM's logits are large
            out, labels = reading_forward(llm, tuple(t[i: i + 16] for t in self.valid), device)
            n = int((labels[:, 1:] != IGNORE).sum())
            nll, wrong, count = nll + float(out.loss) * n, wrong + token_errors(out.logits, labels) * n, count + n
        llm.train()
        return (f"; held-out reading loss {nll / max(count, 1):.3f}, token errors {wrong / max(count, 1):.1%} "
                f"(copies at {self.rate:.0%} errors)")


RESUME_FILE = "checkpoint.pt"  # the training state at the last validation, for resume=True


def train_lm(cfg: Dict[str, Any], tokenizer: Any, exp_dir: Path, device: torch.device, tb: Any = None,
             resume: bool = False) -> float:
    """Train, save exp_dir/hf, return the final held-out perplexity. The state is saved at every validation;
    resume=True continues from it (the same batches follow, so the result equals an uninterrupted run)."""
    t = cfg["train"]
    train_lines, valid_lines = split(read_lines(cfg["data"]["text"], cfg["data"]["max_lines"]),
                                     cfg["data"]["valid_fraction"], cfg["data"]["valid_max_lines"], t["seed"])
    train_blocks = pack(train_lines, tokenizer, t["block_size"])
    valid_blocks = pack(valid_lines, tokenizer, min(t["block_size"], 32))
    logging.info("LM data: %d train lines -> %d blocks of %d; %d held-out lines", len(train_lines),
                 train_blocks.size(0), t["block_size"], len(valid_lines))
    torch.manual_seed(t["seed"])
    llm = build_lm(cfg, tokenizer)
    llm.to(device).train()
    logging.info("LM: %.2fM parameters on %s", sum(p.numel() for p in llm.parameters()) / 1e6, device)
    opt = build_optimizer(llm, t["lr"], t["weight_decay"], t["betas"])
    sched = build_scheduler(opt, t["warmup_steps"], t["schedule"], total_steps=t["num_steps"])
    gen = torch.Generator().manual_seed(t["seed"])
    n_read = round(t["batch_size"] * t["reading_fraction"])
    reading = Reading(train_lines, valid_lines, tokenizer, t) if n_read else None
    first, state_path = 1, exp_dir / RESUME_FILE
    if resume and state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        llm.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        if reading is not None:
            reading.rng.setstate(state["reading_rng"])
        first = state["step"] + 1
        logging.info("resuming from %s at step %d", state_path, state["step"])
    t0, loss_sum = time.time(), 0.0
    ppl = None
    if first == 1:
        ppl = perplexity(llm, valid_blocks, t["batch_size"], device)
        logging.info("step 0: held-out perplexity %.2f%s", ppl, reading.report(llm, device) if reading else "")
    for step in range(first, t["num_steps"] + 1):
        idx = torch.randint(0, train_blocks.size(0), (t["batch_size"] - n_read,), generator=gen)
        x = train_blocks[idx].to(device)
        loss = llm(input_ids=x, labels=x).loss
        if reading is not None:  # rows weighted by their share of the batch
            loss = (loss * (t["batch_size"] - n_read) + reading.loss(llm, n_read, device) * n_read) / t["batch_size"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(llm.parameters(), t["grad_clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        sched.step()
        loss_sum += loss.item()
        if step % t["log_interval"] == 0:
            rate = (step - first + 1) / (time.time() - t0)
            logging.info("step %d/%d loss %.4f lr %.2e | %.1f steps/s ETA %.0fs", step, t["num_steps"],
                         loss_sum / t["log_interval"], sched.get_last_lr()[0], rate, (t["num_steps"] - step) / rate)
            if tb is not None:
                tb.add_scalar("lm/train_loss", loss_sum / t["log_interval"], step)
                tb.add_scalar("lm/lr", sched.get_last_lr()[0], step)
            loss_sum = 0.0
        if step % t["valid_interval"] == 0 or step == t["num_steps"]:
            ppl = perplexity(llm, valid_blocks, t["batch_size"], device)
            logging.info("step %d: held-out perplexity %.2f%s", step, ppl, reading.report(llm, device) if reading else "")
            if tb is not None:
                tb.add_scalar("lm/valid_perplexity", ppl, step)
            atomic_save_torch({"model": llm.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                               "generator": gen.get_state(), "step": step,
                               "reading_rng": reading.rng.getstate() if reading else None}, state_path)
    if ppl is None:  # resumed after the last step's validation (say, a failed save): nothing left to train
        ppl = perplexity(llm, valid_blocks, t["batch_size"], device)
    source = cfg["model"]["pretrained"]
    save_hf(llm.cpu(), exp_dir / "hf", tokenizer if source else None, source)
    return ppl
