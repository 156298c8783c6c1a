"""Test-session settings: archives unpack into a throw-away cache, never the user's ~/.cache."""
import pytest

pytest_plugins = ["tools_required"]


@pytest.fixture(autouse=True, scope="session")
def _model_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("PREFIXASR_CACHE", str(tmp_path_factory.mktemp("prefixasr-cache")))
    yield
    mp.undo()
