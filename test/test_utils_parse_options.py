"""utils/parse_options.sh and utils/log.sh, exercised through small bash scripts."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SCRIPT = f"""#!/usr/bin/env bash
set -euo pipefail
. {REPO}/utils/log.sh
# ---- main
stage=0            # first stage
stop_stage=10000   # last stage
foo_bar="a b"      # an option with a space in its default
use_gpu=false      # a boolean
help_message="Usage: demo.sh [options] <dir>"
. {REPO}/utils/parse_options.sh
echo "stage=$stage stop_stage=$stop_stage foo_bar=$foo_bar use_gpu=$use_gpu"
echo "args=$*"
log "hello from log"
"""


@pytest.fixture()
def demo(tmp_path: Path) -> Path:
    path = tmp_path / "demo.sh"
    path.write_text(SCRIPT)
    return path


def run(script: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=30)


def test_dash_and_underscore_spellings(demo: Path) -> None:
    r = run(demo, "--stage", "3", "--stop-stage", "6", "--foo_bar=x y", "pos1", "pos2")
    assert r.returncode == 0, r.stderr
    assert "stage=3 stop_stage=6 foo_bar=x y use_gpu=false" in r.stdout
    assert "args=pos1 pos2" in r.stdout


def test_double_dash_ends_options(demo: Path) -> None:
    r = run(demo, "--stage", "1", "--", "--not-an-option")
    assert r.returncode == 0, r.stderr
    assert "args=--not-an-option" in r.stdout


def test_config_file_is_read_first_and_overridden(demo: Path, tmp_path: Path) -> None:
    conf = tmp_path / "x.conf"
    conf.write_text("stage=7\nfoo_bar=fromconf\n")
    r = run(demo, "--stage", "2", "--config", str(conf))
    assert r.returncode == 0, r.stderr
    assert "stage=2 stop_stage=10000 foo_bar=fromconf" in r.stdout
    r = run(demo, "--config", str(tmp_path / "missing.conf"))
    assert r.returncode == 1
    assert "missing.conf" in r.stderr


@pytest.mark.parametrize("value,ok", [("true", True), ("false", True), ("yes", False), ("1", False)])
def test_boolean_values_are_checked(demo: Path, value: str, ok: bool) -> None:
    r = run(demo, "--use-gpu", value)
    assert (r.returncode == 0) == ok, r.stderr
    if ok:
        assert f"use_gpu={value}" in r.stdout
    else:
        assert "boolean" in r.stderr and "--use-gpu" in r.stderr


def test_unknown_option_and_missing_value_fail(demo: Path) -> None:
    r = run(demo, "--no-such-thing", "1")
    assert r.returncode == 1
    assert "demo.sh: invalid option --no-such-thing" in r.stderr
    r = run(demo, "--stage")
    assert r.returncode == 1
    assert "--stage requires a value" in r.stderr


def test_help_lists_every_option_with_its_default(demo: Path) -> None:
    r = run(demo, "--stage", "5", "--help")
    assert r.returncode == 0
    out = r.stdout
    assert out.startswith("Usage: demo.sh [options] <dir>")
    assert "[main]" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip().startswith("--")}
    assert set(lines) == {"--stage", "--stop_stage", "--foo_bar", "--use_gpu"}
    assert "(5)" in lines["--stage"]  # current value, after the options before --help
    assert "(a b)" in lines["--foo_bar"] and "a space in its default" in lines["--foo_bar"]
    assert "(false)" in lines["--use_gpu"]
    assert "help_message" not in out


def test_log_names_file_and_line(demo: Path) -> None:
    r = run(demo)
    assert r.returncode == 0, r.stderr
    line_no = SCRIPT.splitlines().index('log "hello from log"') + 1
    assert f"INFO [demo.sh:{line_no}] hello from log" in r.stderr


def test_die_exits_nonzero_with_location(tmp_path: Path) -> None:
    script = tmp_path / "d.sh"
    script.write_text(f". {REPO}/utils/log.sh\nf() {{\n  die \"bad thing\"\n}}\nf\necho unreachable\n")
    r = run(script)
    assert r.returncode == 1
    assert "ERROR [d.sh:3] bad thing" in r.stderr
    assert "unreachable" not in r.stdout


def test_help_lists_the_options_of_a_script_that_changed_directory(tmp_path: Path) -> None:
    """Recipe scripts cd to their own directory before parsing, and are run from elsewhere by a relative path."""
    (tmp_path / "recipe").mkdir()
    script = tmp_path / "recipe" / "demo.sh"
    parse = f". {REPO}/utils/parse_options.sh"
    script.write_text(SCRIPT.replace(parse, f'cd "$(dirname "$0")"\n{parse}'))
    r = subprocess.run(["bash", "recipe/demo.sh", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "--stop_stage" in r.stdout and "last stage" in r.stdout
