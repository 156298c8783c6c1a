"""utils/setup_recipe.sh and the shared stage script egs/TEMPLATE/asr.sh.

The recipe is scaffolded into tmp_path and run from stage 0 to the end with a fake `python` that
records each prefixasr tool call; stage 0 is the template's real local/data.sh (--data kaldi), and
stage 1 the real utils/validate_data_dir.sh. What is checked is the orchestration: stage guards,
skipping finished work, resuming with --stage, replay scripts, failing fast, --help.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FAKE_PYTHON = r"""#!/usr/bin/env bash
# Records the call; creates the outputs asr.sh checks for (import_kaldi's manifests, --output).
echo "$*" >> "$FAKE_PY_LOG"
declare -A opt
prev=
for a in "$@"; do opt[x$prev]=$a; prev=$a; done
[ -n "${opt[x--output]:-}" ] && touch "${opt[x--output]}"
[ -n "${opt[x--output-cuts]:-}" ] && mkdir -p "$(dirname "${opt[x--output-cuts]}")" && touch "${opt[x--output-cuts]}"
case "$2" in
  prefixasr.bin.import_kaldi)
    mkdir -p "${opt[x--output-dir]}"
    for k in recordings supervisions; do echo x > "${opt[x--output-dir]}/${opt[x--split]}_$k.jsonl.gz"; done ;;
  prefixasr.bin.make_cuts)
    mkdir -p "${opt[x--output-dir]}"
    touch "${opt[x--output-dir]}/${opt[x--split]}_cuts.jsonl.gz"
    [[ " $* " == *" --long "* ]] && touch "${opt[x--output-dir]}/${opt[x--split]}_long_cuts.jsonl.gz" ;;
  prefixasr.bin.train_tokenizer)
    touch "${opt[x--output]}.model" "${opt[x--output]}.vocab" ;;
  prefixasr.bin.prepare_lang)
    mkdir -p "${opt[x--output-dir]}"
    echo x > "${opt[x--output-dir]}/lang2id.json"; echo x > "${opt[x--output-dir]}/lm_text.txt" ;;
esac
exit 0
"""


def kaldi_dir(d: Path, n: int = 3) -> None:
    d.mkdir(parents=True)
    utts = [f"spk1-u{i}" for i in range(n)]
    (d / "wav.scp").write_text("".join(f"{u} /dev/null\n" for u in utts))
    (d / "text").write_text("".join(f"{u} नमस्ते {i}\n" for i, u in enumerate(utts)), encoding="utf-8")
    (d / "utt2spk").write_text("".join(f"{u} spk1\n" for u in utts))
    (d / "spk2utt").write_text("spk1 " + " ".join(utts) + "\n")


@pytest.fixture()
def recipe(tmp_path: Path):
    """A scaffolded recipe dir plus a runner that records the prefixasr tool calls."""
    r = subprocess.run([REPO / "utils/setup_recipe.sh", "egs/demo"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    for s in ("train", "dev", "test"):
        kaldi_dir(tmp_path / "corpus" / s)
    fake = tmp_path / "fakepy"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    calls = tmp_path / "calls.txt"
    rdir = tmp_path / "egs/demo"
    env = {**os.environ, "KALDI_DATA": str(tmp_path / "corpus"), "FAKE_PY_LOG": str(calls)}

    def run(*args: str, script: str = "./run.sh") -> tuple[subprocess.CompletedProcess, list[str]]:
        calls.write_text("")
        res = subprocess.run([script, "--data", "kaldi", "--langs", "hi", "--python", str(fake), "--nj", "2",
                              *args], cwd=rdir, env=env, capture_output=True, text=True, timeout=120)
        return res, [re.sub(r"^-m prefixasr\.bin\.", "", c) for c in calls.read_text().splitlines()]

    run.dir = rdir
    run.corpus = tmp_path / "corpus"
    return run


def tools(calls: list[str]) -> list[str]:
    return [c.split()[0] for c in calls]


def test_setup_recipe_shares_the_stage_script(recipe) -> None:
    d = recipe.dir
    assert (d / "asr.sh").is_symlink() and (d / "utils").is_symlink()
    assert (d / "asr.sh").resolve() == REPO / "egs/TEMPLATE/asr.sh"
    assert (d / "utils").resolve() == REPO / "utils"
    assert not os.path.isabs(os.readlink(d / "asr.sh"))  # relative: the checkout can move
    assert "Recipe: demo." in (d / "run.sh").read_text()
    for f in ("cmd.sh", "path.sh", "db.sh", "local/data.sh", "local/README.md", "conf/README.md"):
        assert (d / f).is_file() and not (d / f).is_symlink(), f
    r = subprocess.run([REPO / "utils/setup_recipe.sh", str(d)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "exists and is not empty" in r.stderr
    (d / "run.sh").write_text("# mine\n")
    (d / "cmd.sh").unlink()
    r = subprocess.run([REPO / "utils/setup_recipe.sh", "--force", "true", str(d)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert (d / "run.sh").read_text() == "# mine\n" and (d / "cmd.sh").is_file()


def test_all_stages_then_rerun_skips_then_resume(recipe) -> None:
    r, calls = recipe()
    assert r.returncode == 0, r.stderr
    # per stage: 3 sets for manifests/cuts; features for 3 sets + the long test cuts; decode 2 forms x 2 jobs
    assert tools(calls) == (["import_kaldi"] * 3 + ["prepare_lang", "validate_manifests"] + ["make_cuts"] * 3
                            + ["compute_fbank"] * 4
                            + ["train_tokenizer", "train_lm", "lm_perplexity", "train", "train", "average_checkpoints",
                            "set_decode_settings"]
                            + ["decode"] * 4 + ["show_results", "pack"])
    jobs = sorted(c.split("--job-index ")[1].split()[0] for c in calls if "decode_test_long_llm_greedy" in c)
    assert jobs == ["0", "1"]  # JOB substituted by run.pl, then $((JOB-1)) expanded by the job's shell
    long_llm = next(c for c in calls if "decode_test_long_llm_greedy" in c)
    assert "--split pauses" in long_llm, "the LLM decodes recordings cut at pauses, one sentence at a time"
    d = recipe.dir
    assert (d / "data/train/utt2lang").read_text().splitlines()[0] == "spk1-u0 hi"
    assert (d / "exp/train/log/train.log").is_file()  # the job's log, written by run.pl
    assert (d / "exp/train/decode_test_long_llm_greedy_avg2_pauses/log/decode.2.log").is_file()
    replay = (d / "exp/train/run.sh").read_text()
    assert "--stage 7 --stop_stage 7" in replay and "--langs hi" in replay
    pretrain, train = [c for c in calls if c.split()[0] == "train"]
    assert "--exp-dir exp/pretrain" in pretrain and "data.char_tokenizer=data/lang/chars.model" in pretrain
    assert "model.init.path=exp/pretrain" in train, "stage 7 starts from the pre-trained encoder"
    cuts = {c.split("--split ")[1].split()[0]: c for c in calls if c.split()[0] == "make_cuts"}
    for dset in ("train", "dev"):
        assert "--min-duration 1.0 --max-duration 20.0" in cuts[dset]
    assert "--min-duration 0 --max-duration inf" in cuts["test"], "a test segment is never dropped for its length"

    r, calls = recipe()
    assert r.returncode == 0, r.stderr
    assert calls == []  # every stage finished before
    assert "skipping" in r.stderr

    (d / "exp/train/.train.done").unlink()
    r, calls = recipe("--stage", "7", "--stop_stage", "7")
    assert r.returncode == 0, r.stderr
    assert tools(calls) == ["train"]

    (d / "exp/train/.train.done").unlink()
    r, calls = recipe(script="exp/train/run.sh")
    assert r.returncode == 0, r.stderr
    assert tools(calls) == ["train"]


DOWNSTREAM_OF_TOKENIZER = (["train_tokenizer", "train_lm", "lm_perplexity", "train", "train", "average_checkpoints",
                            "set_decode_settings"]
                           + ["decode"] * 4 + ["pack"])


def test_changed_options_redo_their_stage_and_every_stage_after(recipe) -> None:
    r, _ = recipe()
    assert r.returncode == 0, r.stderr
    d = recipe.dir
    # other decoding settings: a new decode dir, nothing else redone
    r, calls = recipe("--decode_args", "--beam 8")
    assert r.returncode == 0, r.stderr
    assert tools(calls) == ["decode"] * 4
    assert all("--decode-dir exp/train/decode_test_" in c and "_avg2_beam8" in c for c in calls if c.startswith("decode"))
    assert (d / "exp/train/decode_test_llm_greedy_avg2_beam8").is_dir()
    assert (d / "exp/train/decode_test_llm_greedy_avg2").is_dir(), "the first settings' decodes stay"
    # another tokenizer: stage 4 and everything after it, the old trainings kept aside
    r, calls = recipe("--nbpe", "300")
    assert r.returncode == 0, r.stderr
    assert tools(calls) == DOWNSTREAM_OF_TOKENIZER
    assert "options or inputs changed" in r.stderr
    assert (d / "exp/prev/train/decode_test_llm_greedy_avg2_beam8").is_dir(), "the old system is kept aside"
    assert not (d / "exp/train/decode_test_llm_greedy_avg2_beam8").exists()
    # an edited decode: block (the system's decode settings, which training never reads): stage 8's settings on
    train_yaml = (d / "conf/train.yaml").read_text(encoding="utf-8")
    assert train_yaml.count("  ctc_weight: 0.5") == 1 and "\ndecode:\n" in train_yaml
    (d / "conf/train.yaml").write_text(train_yaml.replace("ctc_weight: 0.5", "ctc_weight: 0.4"), encoding="utf-8")
    r, calls = recipe("--nbpe", "300")
    assert r.returncode == 0, r.stderr
    assert tools(calls) == ["set_decode_settings"] + ["decode"] * 4 + ["pack"]
    # ... and so does a decode.* option of --asr_args
    r, calls = recipe("--nbpe", "300", "--asr_args", "decode.word_penalty=1")
    assert r.returncode == 0, r.stderr
    assert tools(calls) == ["set_decode_settings"] + ["decode"] * 4 + ["pack"]
    assert "decode.word_penalty=1" in calls[0]
    # an edited training config: stage 7 onwards
    with open(d / "conf/train.yaml", "a", encoding="utf-8") as f:
        f.write("# edited\n")
    r, calls = recipe("--nbpe", "300", "--asr_args", "decode.word_penalty=1")
    assert r.returncode == 0, r.stderr
    assert tools(calls) == ["train", "average_checkpoints", "set_decode_settings"] + ["decode"] * 4 + ["pack"]
    # another option of stage 0: everything
    r, calls = recipe("--nbpe", "300", "--local_data_opts", "--seed 7")
    assert r.returncode == 0, r.stderr
    assert tools(calls)[:3] == ["import_kaldi"] * 3 and tools(calls)[-len(DOWNSTREAM_OF_TOKENIZER):] == DOWNSTREAM_OF_TOKENIZER


def test_an_edited_included_config_redoes_training(recipe) -> None:
    d = recipe.dir
    (d / "conf/mine.yaml").write_text("include: [train.yaml]\n", encoding="utf-8")
    r, _ = recipe("--asr_config", "conf/mine.yaml")
    assert r.returncode == 0, r.stderr
    with open(d / "conf/train.yaml", "a", encoding="utf-8") as f:  # the included file, not the one named
        f.write("# edited\n")
    r, calls = recipe("--asr_config", "conf/mine.yaml")
    assert r.returncode == 0, r.stderr
    assert tools(calls) == ["train", "average_checkpoints", "set_decode_settings"] + ["decode"] * 4 + ["pack"]


def test_template_defaults_prepare_the_synthetic_corpus_with_the_recipe_python(recipe) -> None:
    # --data is the template's default (synthetic); --python and --nj reach stage 0
    r, calls = recipe("--data", "synthetic", "--nj", "3", "--stop_stage", "0")
    assert r.returncode == 0, r.stderr
    assert tools(calls) == ["prepare_synthetic"]
    assert "--languages hi" in calls[0] and "--num-jobs 3" in calls[0]


def test_a_recipe_made_from_the_template_has_configs_that_load(recipe) -> None:
    from prefixasr.train.config import load_config, read_yaml
    from prefixasr.train.lm import lm_config

    conf = recipe.dir / "conf"  # scaffolded outside the repository: the includes were rewritten
    for name in ("pretrain", "train"):
        assert load_config(conf / f"{name}.yaml")["model"]["encoder"]
    assert lm_config(read_yaml(conf / "lm.yaml"))["train"]["reading_fraction"] > 0


def test_bad_data_stops_at_validation(recipe) -> None:
    with open(recipe.corpus / "dev/text", "a", encoding="utf-8") as f:
        f.write("spk1-u0 again\n")
    r, calls = recipe()
    assert r.returncode != 0
    assert "data/dev/text:4: duplicate key spk1-u0" in r.stderr
    assert "make_cuts" not in tools(calls)


def test_help_lists_every_option_of_asr_sh(recipe) -> None:
    # called from elsewhere, as in `bash egs/indic/run.sh --help` from the repository root
    r = subprocess.run(["bash", "egs/demo/run.sh", "--help"], cwd=recipe.dir.parents[1], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    declared = re.findall(r"^([a-z][a-z_]*)=", (REPO / "egs/TEMPLATE/asr.sh").read_text().split("parse_options.sh")[0],
                          re.M)
    listed = re.findall(r"^  --(\w+)\s+\((.*?)\)", r.stdout, re.M)
    assert [name for name, _ in listed] == [n for n in declared if n != "help_message"]
    assert dict(listed)["stop_stage"] == "10000"


def test_unknown_option_and_argument_fail(recipe) -> None:
    r, _ = recipe("--no_such_option", "1")
    assert r.returncode == 1 and "invalid option --no_such_option" in r.stderr
    r, _ = recipe("stray")
    assert r.returncode == 1 and "unexpected arguments: stray" in r.stderr
