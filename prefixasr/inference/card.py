"""MODEL_CARD.md for a packed model: what it is, what it was trained on, how well it scored."""
from __future__ import annotations

import collections
import datetime
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from prefixasr import __version__
from prefixasr.checkpoints import distinct_tensors
from prefixasr.common import PathLike


def training_data_summary(train_cuts: Optional[str]) -> List[str]:
    """Utterances and hours per language of the training CutSet, when it is still on disk."""
    if not train_cuts:
        return ["- training cuts: not recorded in the config"]
    path = Path(train_cuts)
    if not path.is_file():
        return [f"- training cuts: `{train_cuts}` (not found when packing: no summary)"]
    from lhotse import load_manifest_lazy

    count: Dict[str, int] = collections.Counter()
    secs: Dict[str, float] = collections.defaultdict(float)
    for cut in load_manifest_lazy(path):
        lang = (cut.supervisions[0].language if cut.supervisions else None) or "unknown"
        count[lang] += 1
        secs[lang] += cut.duration
    lines = [f"- training cuts: `{path.name}`: {sum(count.values())} utterances, "
             f"{sum(secs.values()) / 3600:.2f} h", "", "|language|utterances|hours|", "|---|---|---|"]
    lines += [f"|{lang}|{count[lang]}|{secs[lang] / 3600:.2f}|" for lang in sorted(count)]
    return lines


def results_rows(results: Optional[PathLike], system: str) -> List[str]:
    """The tables of RESULTS.md reduced to this system's rows (headings and header rows kept)."""
    if results is None or not Path(results).is_file():
        return ["No RESULTS.md was given or found; see `decode_*/scores.json` in the experiment directory."]
    out: List[str] = []
    header: List[str] = []
    for line in Path(results).read_text(encoding="utf-8").splitlines():
        if line.startswith("## ") and not line.startswith("## Environments"):
            header = [line, ""]
        elif line.startswith("|") and header and len(header) < 4:
            header.append(line)  # column names, then the |---| rule
        elif line.startswith("|") and line[1:].split("|")[0].split("/")[0].strip() == system:
            if header:  # first row of this table: its heading and column names go first
                out += ([""] if out else []) + header
                header = []
            out.append(line)
    return out or [f"RESULTS.md (`{results}`) has no rows for system `{system}`."]


def _llm_training(llm: Dict[str, Any]) -> str:
    if (llm.get("lora") or {}).get("rank", 0) > 0:
        return f"LoRA rank {llm['lora']['rank']} on {', '.join(llm['lora']['target_modules'])}"
    return "frozen" if llm.get("freeze") else "fine-tuned"


def model_card(exp_dir: Path, config: Dict[str, Any], weights: Dict[str, torch.Tensor], lang_map_path: Path,
               source: Dict[str, Any], results: Optional[PathLike]) -> str:
    m = config.get("model", {})
    llm, prompt, loss = m.get("llm", {}), m.get("prompt", {}), m.get("loss", {})
    languages = sorted(json.loads(lang_map_path.read_text(encoding="utf-8")))
    lang_arg = "auto" if loss.get("lid_weight", 0) > 0 else languages[0]
    params = sum(t.numel() for t in distinct_tensors(weights) if t.is_floating_point())  # tied weights once
    if results is None:  # a recipe keeps RESULTS.md two levels above exp/<system>
        results = next((p for p in (exp_dir / "RESULTS.md", exp_dir.parent.parent / "RESULTS.md") if p.is_file()), None)
    lines = [
        f"# prefixasr model: {exp_dir.name}",
        "",
        f"- packed: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')} with prefixasr {__version__}",
        f"- weights: average of {source['avg']} checkpoint(s): {', '.join(source['checkpoints'])}",
        f"- parameters: {params / 1e6:.2f} M",
        f"- LLM: {llm.get('type')}" + (f" (`{llm.get('path')}`)" if llm.get("path") else "") + ", " + _llm_training(llm),
        *([f"- LLM weights: {source['llm_weights']['how']} (`{source['llm_weights']['path']}`)"]
          if source.get("llm_weights") else []),
        *([f"- frozen encoder (computes the adapter's input from audio): embedded (`frozen_encoder/`, from "
           f"`{source['frozen_encoder']['from']}`)"] if source.get("frozen_encoder") else []),
        f"- soft prompt: {prompt.get('type')}; loss weights: "
        + ", ".join(f"{k.replace('_weight', '')} {v}" for k, v in loss.items()),
        f"- languages: {', '.join(languages)}",
        "",
        "## Training data",
        "",
        *training_data_summary((config.get("data") or {}).get("train_cuts")),
        "",
        "## Scores",
        "",
        *results_rows(results, exp_dir.name),
        "",
        "## Use",
        "",
        "```",
        f"python -m prefixasr.bin.transcribe --model model.tar.gz --lang {lang_arg} recording.wav",
        "```",
        "",
    ]
    logging.info("model card: %d parameters, languages %s", params, languages)
    return "\n".join(lines)
