"""Test-session settings: archives unpack into a throw-away cache, never the user's ~/.cache; under pytest-xdist
(`make test` runs one worker a core, at most 4) each worker's torch, and the recipe runs it starts, share the cores rather than
each taking all of them; the recipe modules, the longest, start first so the workers finish together."""
import os

import pytest

pytest_plugins = ["tools_required"]

# the longest modules (minutes each on 2 cores), in the order they should start
SLOW_FIRST = ("test_recipe_indic.py", "test_recipe_systems.py", "test_recipe_learns.py", "test_recipe_new_language.py")


def _share_the_cores() -> None:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers <= 1:
        return
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    # the recipe's run.pl and asr.sh read these for the jobs they start (asr.sh's decode threads too)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = threads
    import torch

    torch.set_num_threads(int(threads))


_share_the_cores()


def pytest_collection_modifyitems(items: list) -> None:
    """Module by module as collected, but the slow recipe modules first (a stable sort keeps each module whole)."""
    def rank(item) -> int:
        name = item.path.name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)


@pytest.fixture(autouse=True, scope="session")
def _model_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("PREFIXASR_CACHE", str(tmp_path_factory.mktemp("prefixasr-cache")))
    yield
    mp.undo()
