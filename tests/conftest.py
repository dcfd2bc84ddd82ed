import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "ldl"


@pytest.fixture(autouse=True)
def _runs_dir(tmp_path, monkeypatch):
    """Every test writes runs into its own temporary folder (and the app's job registry, cached per process, is
    made again over that folder: one test's runs never show in another's pages)."""
    monkeypatch.setenv("ILDL_RUNS_DIR", str(tmp_path / "runs"))
    ui = sys.modules.get("pages._ui.common")
    if ui is not None:
        ui.registry.clear()


@pytest.fixture(scope="session")
def movie():
    from ildl.data import load

    return load("Movie")


@pytest.fixture(scope="session")
def tiny():
    """A small synthetic ILDL set: trains in well under a second."""
    from ildl.data import make_synthetic

    return make_synthetic(n=200, d=8, n_labels=4, seed=1)


def pytest_sessionfinish(session, exitstatus):
    """No job thread may still be inside torch when the interpreter exits."""
    from ildl.jobs import stop_all

    stop_all()
