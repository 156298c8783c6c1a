"""`make test` fails, not skips, a test whose tool (installed by `make -C tools`) is missing."""
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TEST = """
import pytest

@pytest.mark.needs_tool("prefixasr-no-such-program")
def test_uses_it():
    pass
"""


@pytest.mark.parametrize("strict, outcome", [("1", {"errors": 1}), ("", {"skipped": 1})])
def test_missing_tool_fails_only_when_tools_are_required(pytester, monkeypatch, strict, outcome):
    monkeypatch.setenv("PREFIXASR_REQUIRE_TOOLS", strict)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    pytester.makeconftest('pytest_plugins = ["tools_required"]')
    pytester.makepyfile(TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(**outcome)
    if strict:
        result.stdout.fnmatch_lines(["*prefixasr-no-such-program not found; `make -C tools` installs it*"])
