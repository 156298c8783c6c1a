"""The worked example of adding a language recipe (egs/bengali, see egs/bengali/README.md).

- utils/setup_recipe.sh scaffolds a made-up recipe whose asr.sh/utils are symlinks to the shared
  ones and whose `run.sh --help` lists the options with their defaults;
- egs/bengali/run.sh stages 0-4 on a tiny synthetic Bengali corpus (text: the hand-written test
  fixture, audio: espeak-ng; skipped without espeak-ng) leave manifests, fbank cuts and a
  tokenizer, every supervision in language bn;
- egs/bengali/run.sh --data kaldi stages 0-1 on a generated Kaldi data dir (a tone per utterance,
  no espeak-ng needed) import it as Bengali.
Everything is written under tmp_path; nothing is downloaded.
"""
from __future__ import annotations

import gzip
import json
import math
import os
import re
import struct
import subprocess
import wave
from pathlib import Path

import pytest

from prefixasr.data.text import normalize_text

from recipe_fixtures import failed_run

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "egs" / "bengali"
FIXTURE = ROOT / "test" / "fixtures" / "data" / "sentences.tsv"
SETS = ("train", "dev", "test")
needs_espeak = pytest.mark.needs_tool("espeak-ng")


def _env(**extra: str) -> dict:
    return dict(os.environ, PATH=f"{ROOT / 'tools' / 'venv' / 'bin'}:{os.environ['PATH']}", **extra)


def _bn_sentences() -> list[str]:
    rows = [l.split("\t") for l in FIXTURE.read_text(encoding="utf-8").splitlines() if l and not l.startswith("#")]
    return [t for lang, t in rows if lang == "bn"]


def _jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def _run_bengali(work: Path, *args: str, env: dict | None = None) -> str:
    cmd = ["bash", str(RECIPE / "run.sh"), "--data_dir", str(work / "data"), "--exp_dir", str(work / "exp"),
           "--nj", "1", *args]
    out = subprocess.run(cmd, env=env or _env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, failed_run(f"run.sh {' '.join(args)}", out)
    return out.stdout + out.stderr


# ---- scaffolding


def test_setup_recipe_shares_the_stage_script_and_run_sh_help_lists_options(tmp_path):
    r = subprocess.run([str(ROOT / "utils" / "setup_recipe.sh"), "egs/zz_newlang"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    recipe = tmp_path / "egs" / "zz_newlang"
    assert (recipe / "asr.sh").is_symlink(), "the stage script is shared, not copied"
    assert (recipe / "asr.sh").resolve() == (ROOT / "egs" / "TEMPLATE" / "asr.sh").resolve()
    assert (recipe / "utils").is_symlink() and (recipe / "utils").resolve() == (ROOT / "utils").resolve()
    for f in ("run.sh", "cmd.sh", "path.sh", "db.sh", "local/data.sh"):
        assert (recipe / f).is_file() and not (recipe / f).is_symlink(), f"{f} is the recipe's own copy"
    assert "zz_newlang" in (recipe / "run.sh").read_text(), "RECIPE_NAME is filled in"
    assert "Next steps" in r.stdout

    h = subprocess.run([str(recipe / "run.sh"), "--help"], capture_output=True, text=True, timeout=30, env=_env())
    assert h.returncode == 0, h.stderr
    assert "Stages: 0 data" in h.stdout
    for opt, default in [("stage", "0"), ("stop_stage", "10000"), ("data", "synthetic"), ("langs", "hi bn"),
                         ("nbpe", "5000"), ("asr_config", "conf/train.yaml"), ("lm_config", "conf/lm.yaml"),
                         ("decode_methods", "llm_greedy")]:
        assert re.search(rf"^\s+--{opt}\s+\({re.escape(default)}\)\s+\S", h.stdout, re.M), f"--{opt} ({default})"


def test_bengali_recipe_is_a_one_language_recipe_sharing_asr_sh():
    assert (RECIPE / "asr.sh").is_symlink() and os.readlink(RECIPE / "asr.sh") == "../TEMPLATE/asr.sh"
    assert (RECIPE / "utils").is_symlink() and os.readlink(RECIPE / "utils") == "../../utils"
    h = subprocess.run([str(RECIPE / "run.sh"), "--help"], capture_output=True, text=True, timeout=30, env=_env())
    assert h.returncode == 0, h.stderr
    assert re.search(r"^\s+--langs\s+\(bn\)\s", h.stdout, re.M), "run.sh sets langs=bn"
    d = subprocess.run(["local/data.sh", "--help"], cwd=RECIPE, capture_output=True, text=True, timeout=30)
    assert d.returncode == 0 and re.search(r"--data\s+\(synthetic\).*kaldi", d.stdout), d.stdout + d.stderr
    for conf in ("train.yaml", "lm.yaml"):
        assert "include: [../../../conf/" in (RECIPE / "conf" / conf).read_text(), f"{conf} uses the shared blocks"


# ---- stages 0-4, synthetic Bengali


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("bengali_synthetic")
    (work / "text").mkdir()
    sents = _bn_sentences()
    assert len(sents) >= 4, "the fixture needs a few Bengali sentences of 4+ words"
    (work / "text" / "bn.txt").write_text("".join(s + "\n" for s in sents), encoding="utf-8")
    log = _run_bengali(work, "--stage", "0", "--stop_stage", "4", "--nbpe", "60",
                       "--local_data_opts", f"--text_dir {work / 'text'} --train_utts 2 --dev_utts 1 --test_utts 1")
    return work, log


@needs_espeak
def test_synthetic_stages_0_to_4_write_manifests_features_and_tokenizer(synthetic_run):
    work, log = synthetic_run
    for n in range(5):
        assert f"Stage {n}:" in log, f"stage {n} did not run"
    assert "Stage 5:" not in log
    data = work / "data"
    for s in SETS:
        for kind in ("recordings", "supervisions"):
            assert (data / "manifests" / f"{s}_{kind}.jsonl.gz").stat().st_size > 0, f"{s}_{kind}"
        cuts = _jsonl_gz(data / "fbank" / f"{s}_cuts.jsonl.gz")
        assert cuts and all(c["features"]["num_features"] == 80 for c in cuts), f"{s}: fbank cuts"
    assert (data / "lang" / "spm.model").stat().st_size > 0
    assert json.loads((data / "lang" / "lang2id.json").read_text()) == {"bn": 0}
    assert not (RECIPE / "data").exists() and not (RECIPE / "downloads").exists(), "nothing written in the recipe"


@needs_espeak
def test_synthetic_every_supervision_is_bengali(synthetic_run):
    work, _ = synthetic_run
    data = work / "data"
    sents = {normalize_text(s, "bn") for s in _bn_sentences()}
    for s in SETS:
        sups = _jsonl_gz(data / "manifests" / f"{s}_supervisions.jsonl.gz")
        sups += [sup for c in _jsonl_gz(data / "fbank" / f"{s}_cuts.jsonl.gz") for sup in c["supervisions"]]
        assert sups and {x["language"] for x in sups} == {"bn"}, s
        assert all(x["text"] in sents for x in sups), f"{s}: text comes from the fixture"


# ---- stages 0-1, --data kaldi


def _kaldi_corpus(root: Path, sents: list[str]) -> None:
    """train/dev/test Kaldi data dirs (no utt2lang: the recipe's one language fills it), a 1.5 s tone each."""
    frames = b"".join(struct.pack("<h", int(3000 * math.sin(2 * math.pi * 220 * n / 16000))) for n in range(24000))
    for s in SETS:
        d = root / s
        d.mkdir(parents=True)
        utts = [(f"spk_{s}-{i:02d}", t) for i, t in enumerate(sents[:2])]
        for u, _ in utts:
            with wave.open(str(d / f"{u}.wav"), "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(frames)
        (d / "wav.scp").write_text("".join(f"{u} {d / u}.wav\n" for u, _ in utts))
        (d / "text").write_text("".join(f"{u} {t}\n" for u, t in utts), encoding="utf-8")
        (d / "utt2spk").write_text("".join(f"{u} spk_{s}\n" for u, _ in utts))
        (d / "spk2utt").write_text(f"spk_{s} " + " ".join(u for u, _ in utts) + "\n")


def test_kaldi_data_dir_is_imported_as_bengali(tmp_path):
    _kaldi_corpus(tmp_path / "corpus", _bn_sentences())
    log = _run_bengali(tmp_path, "--data", "kaldi", "--stage", "0", "--stop_stage", "1",
                       env=_env(KALDI_DATA=str(tmp_path / "corpus")))
    assert "Stage 1:" in log and "Stage 2:" not in log
    for s in SETS:
        assert (tmp_path / "data" / s / "utt2lang").read_text().split("\n")[0].endswith(" bn")
        sups = _jsonl_gz(tmp_path / "data" / "manifests" / f"{s}_supervisions.jsonl.gz")
        assert len(sups) == 2 and {x["language"] for x in sups} == {"bn"}, s
    assert json.loads((tmp_path / "data" / "lang" / "lang2id.json").read_text()) == {"bn": 0}


def test_kaldi_without_kaldi_data_fails_with_a_message(tmp_path):
    env = _env()
    env.pop("KALDI_DATA", None)
    r = subprocess.run(["bash", str(RECIPE / "run.sh"), "--data", "kaldi", "--data_dir", str(tmp_path / "data"),
                        "--stop_stage", "0"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "KALDI_DATA is empty" in r.stderr
