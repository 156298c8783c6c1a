"""A system's decode settings apart from what it trains from: utils/config_files.py's training and decode stamps
(asr.sh stage 7 stamps the one, stage 8 the other) and prefixasr.bin.set_decode_settings, which writes them into
a trained experiment."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prefixasr.bin import set_decode_settings
from prefixasr.train.config import config_changes, load_config, save_config

REPO = Path(__file__).resolve().parents[1]
SYSTEM = """# a system
include: [block.yaml]
model:
  prompt: {type: langid}
decode:
  # the CTC's weight
  ctc_weight: 0.5

  word_penalty: 2.0
# the schedule
train:
  num_epochs: 2
"""


def stamps(part: str, config: Path) -> list[str]:
    out = subprocess.run([sys.executable, str(REPO / "utils/config_files.py"), "--stamps", part, str(config)],
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.fixture()
def system(tmp_path: Path) -> Path:
    (tmp_path / "block.yaml").write_text("train:\n  lr: 1.0e-4\n", encoding="utf-8")
    config = tmp_path / "system.yaml"
    config.write_text(SYSTEM, encoding="utf-8")
    return config


def test_a_decode_only_edit_changes_the_decode_stamp_and_not_the_training_one(system: Path) -> None:
    train, decode = stamps("train", system), stamps("decode", system)
    assert len(train) == len(decode) == 2, "the config and its include, each stamped"
    block = system.parent / "block.yaml"
    # a file without a decode: block: its training stamp is md5sum's of the whole file (asr.sh's stamp)
    assert train[1] == hashlib.md5(block.read_bytes()).hexdigest()[:16]
    system.write_text(SYSTEM.replace("ctc_weight: 0.5", "ctc_weight: 0.6"), encoding="utf-8")
    assert stamps("train", system) == train and stamps("decode", system) != decode
    # the comment at the first column after the block is about `train:`; editing it is a training edit
    system.write_text(SYSTEM.replace("# the schedule", "# the schedule, longer"), encoding="utf-8")
    assert stamps("train", system) != train and stamps("decode", system) == decode
    block.write_text("train:\n  lr: 2.0e-4\n", encoding="utf-8")  # an included file's edit
    assert stamps("train", system)[1] != train[1]


def test_an_unknown_part_is_refused(system: Path) -> None:
    out = subprocess.run([sys.executable, str(REPO / "utils/config_files.py"), "--stamps", "model", str(system)],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "--stamps takes one of train, decode" in out.stderr


def test_set_decode_settings_writes_the_block_and_the_ngram_into_the_experiment(system: Path, tmp_path: Path,
                                                                                capfd) -> None:
    exp = tmp_path / "exp"
    exp.mkdir()
    trained = load_config(None, ["model.prompt.type=langid", "train.num_epochs=2"])
    save_config(trained, exp / "config.yaml")
    ngram = tmp_path / "6gram.npz"
    ngram.write_bytes(b"counts")

    assert set_decode_settings.main(["--exp-dir", str(exp), "--config", str(system),
                                     f"decode.ngram={ngram}", "decode.ngram_weight=0.7"]) == 0
    cfg = yaml.safe_load((exp / "config.yaml").read_text(encoding="utf-8"))
    assert cfg["decode"] == {**trained["decode"], "ctc_weight": 0.5, "word_penalty": 2.0, "ngram": str(ngram),
                             "ngram_weight": 0.7}
    assert {k: v for k, v in cfg.items() if k not in ("decode", "exp_files")} == \
        {k: v for k, v in trained.items() if k != "decode"}, "only the decode settings change"
    assert cfg["exp_files"]["ngram"] == "ngram.npz" and (exp / "ngram.npz").read_bytes() == b"counts"
    assert "decode.ctc_weight: 0.0 -> 0.5" in capfd.readouterr().err

    # settings without the n-gram: its copy goes too (a packed model would carry it otherwise)
    assert set_decode_settings.main(["--exp-dir", str(exp), "--config", str(system)]) == 0
    cfg = yaml.safe_load((exp / "config.yaml").read_text(encoding="utf-8"))
    assert cfg["decode"]["ngram"] is None and "ngram" not in cfg["exp_files"] and not (exp / "ngram.npz").exists()


def test_set_decode_settings_refuses_what_is_not_a_decode_setting(system: Path, tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    exp.mkdir()
    save_config(load_config(None), exp / "config.yaml")
    with pytest.raises(ValueError, match="train.lr=1: only decode"):
        set_decode_settings.main(["--exp-dir", str(exp), "--config", str(system), "train.lr=1"])
    with pytest.raises(ValueError, match="beam_size"):  # ESPnet's name; ours is decode.beam
        set_decode_settings.main(["--exp-dir", str(exp), "--config", str(system), "decode.beam_size=4"])
    with pytest.raises(FileNotFoundError, match="is .* a training experiment directory"):
        set_decode_settings.main(["--exp-dir", str(tmp_path / "none"), "--config", str(system)])


def test_a_resumed_training_does_not_stop_on_other_decode_settings() -> None:
    saved = load_config(None, ["decode.ctc_weight=0.5", "train.lr=1e-3"])
    assert config_changes(saved, load_config(None, ["decode.ctc_weight=0.6", "train.lr=1e-3"])) == []
    assert config_changes(saved, load_config(None, ["decode.ctc_weight=0.5", "train.lr=2e-3"])) == \
        ["train.lr: 0.001 -> 0.002"]
