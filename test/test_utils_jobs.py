"""utils/run.pl and utils/slurm.pl: the Kaldi calling convention, per-job logs, failure reporting,
and (for slurm.pl) the sbatch job array and options mapped through conf/slurm.conf.

slurm.pl runs against a fake `sbatch` on PATH that records its arguments and then runs the array
tasks locally, the way Slurm would (SLURM_ARRAY_TASK_ID set per task).
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FAKE_SBATCH = r"""#!/usr/bin/env bash
# Records each call (one argument per line), then runs the array tasks like Slurm would.
n=$(ls "$FAKE_SBATCH_DIR" | wc -l)
printf '%s\n' "$@" > "$FAKE_SBATCH_DIR/call.$n"
script=${!#}
arr=
for a in "$@"; do case $a in --array=*) arr=${a#--array=} ;; esac; done
arr=${arr%%\%*}
rc=0
for ((i = ${arr%-*}; i <= ${arr#*-}; i++)); do
  [ "$i" = "${FAKE_SBATCH_LOSE_TASK:-}" ] && continue  # a task Slurm killed before it started
  SLURM_ARRAY_TASK_ID=$i bash "$script" > /dev/null 2>&1 || rc=$?
done
echo "Submitted batch job 42"
exit $rc
"""


@pytest.fixture()
def fake_slurm(tmp_path: Path) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(FAKE_SBATCH)
    sbatch.chmod(0o755)
    calls = tmp_path / "sbatch_calls"
    calls.mkdir()
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_SBATCH_DIR": str(calls)}


def sbatch_calls(env: dict) -> list[list[str]]:
    calls = sorted(Path(env["FAKE_SBATCH_DIR"]).iterdir(), key=lambda p: int(p.suffix[1:]))
    return [p.read_text().splitlines() for p in calls]


@pytest.fixture(params=["run.pl", "slurm.pl"])
def backend(request, tmp_path: Path, fake_slurm: dict):
    """A function running utils/<backend> in tmp_path."""
    tool = str(REPO / "utils" / request.param)
    env = {**os.environ, **(fake_slurm if request.param == "slurm.pl" else {})}

    def call(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([tool, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)

    call.name = request.param
    return call


def test_job_array_substitutes_job_in_log_and_command(backend, tmp_path: Path) -> None:
    r = backend("JOB=1:3", "log/echo.JOB.log", "echo", "job=JOB", "of", "3")
    assert r.returncode == 0, r.stderr
    for j in (1, 2, 3):
        log = (tmp_path / f"log/echo.{j}.log").read_text()
        assert log.startswith(f"# echo job={j} of 3\n")
        assert f"\njob={j} of 3\n" in log
        assert "# Ended (code 0)" in log


def test_failing_job_gives_nonzero_exit_naming_its_log(backend, tmp_path: Path) -> None:
    r = backend("JOB=1:4", "exp/log/x.JOB.log", "test JOB -ne 3")
    assert r.returncode == 1
    assert "job 3 failed, log is in exp/log/x.3.log" in r.stderr
    assert "1 / 4 failed" in r.stderr
    assert "# Ended (code 1)" in (tmp_path / "exp/log/x.3.log").read_text()
    assert "# Ended (code 0)" in (tmp_path / "exp/log/x.2.log").read_text()


def test_single_job_without_array(backend, tmp_path: Path) -> None:
    r = backend("one.log", "exit 5")
    assert r.returncode == 1
    assert "one.log" in r.stderr
    assert "# Ended (code 5)" in (tmp_path / "one.log").read_text()


def test_arguments_with_spaces_and_quotes_survive(backend, tmp_path: Path) -> None:
    r = backend("JOB=1:2", "q.JOB.log", "printf", "%s+", "it's JOB", 'say "hi"', "a  b")
    assert r.returncode == 0, r.stderr
    assert "\nit's 2+say \"hi\"+a  b+" in (tmp_path / "q.2.log").read_text()


def test_bare_shell_words_build_a_pipeline(backend, tmp_path: Path) -> None:
    # Kaldi's convention: arguments without spaces pass unquoted, so `\|` on the command line pipes.
    r = backend("JOB=1:2", "p.JOB.log", "echo", "abcJOB", "|", "tr", "a-c", "A-C")
    assert r.returncode == 0, r.stderr
    assert "\nABC2\n" in (tmp_path / "p.2.log").read_text()


def test_one_argument_is_a_shell_command_line(backend, tmp_path: Path) -> None:
    r = backend("JOB=1:2", "p.JOB.log", "echo abc JOB | tr a-c A-C > out.JOB.txt")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.2.txt").read_text() == "ABC 2\n"


@pytest.mark.parametrize("args,message", [
    (["JOB=1:3", "same.log", "true"], "put JOB in its name"),
    (["JOB=0:3", "x.JOB.log", "true"], "invalid job range"),
    (["x.log"], "expected a log file and a command"),
    (["--max-jobs-run", "0", "x.log", "true"], "positive integer"),
])
def test_usage_errors(backend, args: list[str], message: str) -> None:
    r = backend(*args)
    assert r.returncode == 1
    assert message in r.stderr


def test_run_pl_limits_parallel_jobs(tmp_path: Path) -> None:
    # Each job records how many jobs are running when it starts; the peak must respect the limit.
    cmd = "mkdir -p run; touch run/JOB; ls run | wc -l > peak.JOB; sleep 0.4; rm run/JOB"
    for limit, jobs in ((2, 5), (4, 4)):
        for p in tmp_path.glob("peak.*"):
            p.unlink()
        r = subprocess.run([REPO / "utils/run.pl", "--max-jobs-run", str(limit), f"JOB=1:{jobs}",
                            "log/p.JOB.log", cmd], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        peak = max(int(p.read_text()) for p in tmp_path.glob("peak.*"))
        assert 2 <= peak <= limit


def test_run_pl_num_threads_reaches_the_job(tmp_path: Path) -> None:
    r = subprocess.run([REPO / "utils/run.pl", "--num_threads", "3", "--gpu", "0", "--mem", "2G", "t.log",
                        "echo omp=$OMP_NUM_THREADS"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "\nomp=3\n" in (tmp_path / "t.log").read_text()


def run_slurm(tmp_path: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([REPO / "utils/slurm.pl", *args], cwd=tmp_path, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)


def test_slurm_maps_options_through_slurm_conf(tmp_path: Path, fake_slurm: dict) -> None:
    r = run_slurm(tmp_path, fake_slurm, "--gpu", "1", "--mem", "4G", "--num-threads", "4",
                  "--max-jobs-run", "2", "JOB=1:3", "exp/log/decode.JOB.log", "echo", "JOB")
    assert r.returncode == 0, r.stderr
    (call,) = sbatch_calls(fake_slurm)
    # conf/slurm.conf of the repository (tmp_path has no conf/): command line, then mapped options
    assert call[:2] == ["--export=ALL", "--ntasks-per-node=1"]
    for opt in ("--partition=gpu", "--gres=gpu:1", "--mem-per-cpu=4G", "--cpus-per-task=4", "--wait",
                "--array=1-3%2"):
        assert opt in call, (opt, call)
    assert "--partition=cpu" not in call
    script = Path(tmp_path / call[-1])
    assert script.name == "decode.JOB.sh" and script.parent.name == "q"
    assert "SLURM_ARRAY_TASK_ID" in script.read_text()
    assert (tmp_path / "exp/log/decode.2.log").read_text().splitlines()[3] == "2"


def test_slurm_defaults_and_exact_values(tmp_path: Path, fake_slurm: dict) -> None:
    r = run_slurm(tmp_path, fake_slurm, "--num_threads", "1", "--mem", "0", "x.log", "true")
    assert r.returncode == 0, r.stderr
    (call,) = sbatch_calls(fake_slurm)
    assert "--partition=cpu" in call  # default gpu=0
    assert "--cpus-per-task=1" in call
    assert not any(a.startswith("--mem") for a in call)  # option mem=0 adds nothing
    assert "--array=1-1" in call


def test_slurm_uses_the_recipe_conf_and_rejects_unknown_options(tmp_path: Path, fake_slurm: dict) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/slurm.conf").write_text(
        "command sbatch --account=speech\noption gpu=* -p a100 --gres=gpu:$0 -c $0\n"
        "default gpu=0\noption gpu=0 -p cpu\noption always_added\n".replace("option always_added", "option --qos=high"))
    r = run_slurm(tmp_path, fake_slurm, "--gpu", "2", "JOB=1:2", "l/x.JOB.log", "true")
    assert r.returncode == 0, r.stderr
    (call,) = sbatch_calls(fake_slurm)
    assert call[:6] == ["--account=speech", "--qos=high", "-p", "a100", "--gres=gpu:2", "-c"]
    r = run_slurm(tmp_path, fake_slurm, "--mem", "4G", "x.log", "true")
    assert r.returncode == 1
    assert re.search(r"option --mem is not defined in conf/slurm.conf", r.stderr)


def test_slurm_reports_tasks_that_never_ran(tmp_path: Path, fake_slurm: dict) -> None:
    r = run_slurm(tmp_path, {**fake_slurm, "FAKE_SBATCH_LOSE_TASK": "2"}, "JOB=1:3", "log/t.JOB.log", "true")
    assert r.returncode == 1
    assert "job 2 never finished" in r.stderr and "log/q/t.JOB-2.out" in r.stderr
    assert "1 / 3 failed" in r.stderr


def test_slurm_without_sbatch_says_so(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    r = subprocess.run([REPO / "utils/slurm.pl", "x.log", "true"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "'sbatch' not found on PATH" in r.stderr
