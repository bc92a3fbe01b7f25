import os

import pytest

# Under pytest-xdist every worker is one process on its own core: one thread each. Two workers of
# two threads on two cores run convolutions 2-7x slower than two of one (measured), as each
# thread's barrier waits for a descheduled partner. Set before torch is imported, so the
# subprocesses the tests start inherit it too.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def results_tmp(tmp_path, monkeypatch):
    """A private results directory, so tests never touch the committed results/."""
    monkeypatch.setenv("LSBOOK_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"


def pytest_collection_modifyitems(config, items):
    """The gpu presets' dry runs (the longest tests, a minute or two each) first, longest first, so
    that the other worker fills in with short tests instead of both waiting on one at the end."""
    def cost(item):
        if "test_gpu_preset_runs_end_to_end_under_a_dry_run" not in item.nodeid:
            return 0
        return 2 if "[distillation]" in item.nodeid else 1
    items.sort(key=cost, reverse=True)   # stable: the rest keep their order
