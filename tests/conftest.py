import pytest


@pytest.fixture
def results_tmp(tmp_path, monkeypatch):
    """A private results directory, so tests never touch the committed results/."""
    monkeypatch.setenv("LSBOOK_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"
