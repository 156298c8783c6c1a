"""The micro corpus the recipe tests run on: two languages of the hand-written test fixture (no download), a few
utterances each, and run.sh with the smallest settings that still run every stage."""
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "egs" / "indic"
FIXTURE = ROOT / "test" / "fixtures" / "data" / "sentences.tsv"
LANGS = ["hi", "ta"]
# run.sh's data options for the micro corpus (local/data.sh): 2 train, 1 dev, 1 test and 1 unseen utterance a language
MICRO_DATA_OPTS = "--text_dir {text} --train_utts 2 --dev_utts 1 --test_utts 1 --unseen_utts 1"
# the smallest LM run.sh trains (stage 5)
MICRO_LM_ARGS = "train.num_steps=5 train.valid_interval=5 train.batch_size=4 train.block_size=16"


def recipe_env() -> dict:
    return dict(os.environ, PATH=f"{ROOT / 'tools' / 'venv' / 'bin'}:{os.environ['PATH']}")


def failed_run(what: str, out: subprocess.CompletedProcess) -> str:
    """The assertion message of a recipe run that failed: its output's tails and the end of each job log that
    run.pl names ("log is in ..."), so a failure on a CI machine shows its cause, not only where it happened."""
    text = f"{what} failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    for log in dict.fromkeys(re.findall(r"log is in (\S+)", out.stdout + out.stderr)):
        path = Path(log)
        tail = path.read_text(encoding="utf-8", errors="replace")[-4000:] if path.is_file() else "(no such file)"
        text += f"\n--- the end of {log}:\n{tail}"
    return text


def text_dir(root: Path) -> Path:
    d = root / "text"
    d.mkdir(parents=True)
    rows = [l.split("\t") for l in FIXTURE.read_text(encoding="utf-8").splitlines() if l and not l.startswith("#")]
    (d / "unseen").mkdir()
    for lang in LANGS:
        sents = [t for l, t in rows if l == lang]
        # the last sentence is the test_unseen split's "other text source"
        (d / f"{lang}.txt").write_text("".join(t + "\n" for t in sents[:-1]), encoding="utf-8")
        (d / "unseen" / f"{lang}.txt").write_text(sents[-1] + "\n", encoding="utf-8")
    (d / "en_phrases.txt").write_text("open file\nsettings\n", encoding="utf-8")
    return d


def micro_run_opts(work: Path, pretrain: bool = True) -> list[str]:
    """run.sh's options for the micro corpus in ``work`` (its smallest tokenizer, LM and decodes), which every recipe
    script's test passes on to run.sh; ``pretrain=False`` leaves stage 6's epochs to the script under test."""
    opts = ["--local_data_opts", MICRO_DATA_OPTS.format(text=work / "text"), "--nbpe", "60", "--nj", "1",
            "--avg", "1", "--lm_args", MICRO_LM_ARGS, "--decode_args", "--max-new-tokens 8"]
    return opts + (["--pretrain_args", "train.num_epochs=1 train.warmup_steps=2"] if pretrain else [])


def run_recipe(work: Path, *extra: str) -> str:
    cmd = ["bash", str(RECIPE / "run.sh"), "--langs", " ".join(LANGS), "--data_dir", str(work / "data"),
           "--exp_dir", str(work / "exp"), "--results", str(work / "RESULTS.md"), *micro_run_opts(work),
           "--asr_args", "train.num_epochs=1 train.warmup_steps=2", "--decode_methods", "llm_greedy rnnt_greedy",
           *extra]
    out = subprocess.run(cmd, env=recipe_env(), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, failed_run(f"run.sh {' '.join(extra)}", out)
    return out.stdout + out.stderr


def decode_dir(exp: Path, pattern: str) -> Path:
    """The one decode dir whose name (set, method, then the settings: avg, decode args, window) matches."""
    found = sorted(exp.glob(pattern))
    assert len(found) == 1, f"{pattern}: {found}"
    return found[0]
