"""`@pytest.mark.needs_tool("espeak-ng", ...)`: a test that runs programs `make -C tools` installs.

A plain pytest run skips such a test when a program is missing; under `make test` (which sets
PREFIXASR_REQUIRE_TOOLS=1) it fails instead, so a broken install step cannot hide behind a skip.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

STRICT_ENV = "PREFIXASR_REQUIRE_TOOLS"


def tool_available(name: str) -> bool:
    """On PATH, or beside this interpreter (the venv's own scripts, e.g. torchrun)."""
    return shutil.which(name) is not None or (Path(sys.executable).parent / name).exists()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_tool(*names): programs installed by `make -C tools`")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("needs_tool"):
        missing = [name for name in marker.args if not tool_available(name)]
        if not missing:
            continue
        message = f"{', '.join(missing)} not found; `make -C tools` installs it"
        if os.environ.get(STRICT_ENV) == "1":
            pytest.fail(f"{message} ({STRICT_ENV}=1: a missing tool fails the run)", pytrace=False)
        pytest.skip(message)
