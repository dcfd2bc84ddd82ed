"""Every benchmark script still imports and parses its arguments (they are run by hand, so nothing else would
notice a broken import)."""
import subprocess
import sys

import pytest

from conftest import ROOT

BENCHES = sorted(p.name for p in (ROOT / "bench").glob("*.py"))


@pytest.mark.parametrize("name", BENCHES)
def test_bench_help(name):
    out = subprocess.run([sys.executable, f"bench/{name}", "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage" in out.stdout.lower()


def test_gpu_script_runs_on_the_cpu_quick():
    """bench/gpu.py is the one script a lent GPU runs; its CPU form must keep working (issue 21)."""
    out = subprocess.run([sys.executable, "bench/gpu.py", "--device", "cpu", "--quick"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:] + out.stdout[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "gpu check ok" and any(line.startswith("(e)") for line in lines)
