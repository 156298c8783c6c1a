"""The install is complete: every required dependency imports and a pruned RNN-T backend is named."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_check_install_names_backend_and_passes():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "check_install.py")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    backend_row = next(line for line in out.stdout.splitlines() if line.startswith("RNN-T backend"))
    assert backend_row.split()[2] in ("k2", "fast_rnnt")


def test_core_imports():
    subprocess.run(
        [sys.executable, "-c", "import prefixasr, fast_rnnt, torchaudio, lhotse, transformers"], check=True
    )
