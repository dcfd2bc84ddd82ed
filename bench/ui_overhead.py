"""Does the dashboard slow training down? And how much memory does a long run hold?

1. time to first render: `streamlit run app.py`, headless Chromium opens `/`, until the first chart shows;
2. the same training job (LDL-KL, 300 epochs, one fold) run three ways:
   a. by the library alone, no server;
   b. started from the Train page while the page polls it (st.fragment every 0.5 s) in Chromium;
   c. the page open on another page (no polling) — the job is started from the Train page, then the
      browser navigates to Home;
   the worker's own wall time comes from the run's status.json (started → finished);
3. memory: a long job (synthetic n=2000, K-fold, 10 folds × 300 epochs ≈ 90k step events) in-process,
   peak RSS and the event-log size.

    python bench/ui_overhead.py [--dataset Movie]
Needs Debian's chromium and the playwright package (like the end-to-end test).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1"], cwd=ROOT, env=dict(os.environ, ILDL_RUNS_DIR=runs),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.25)
    raise RuntimeError("server did not start")


def cpu_seconds(name: str) -> float:
    """User+system CPU seconds of all processes whose command line contains `name`."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if name in open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="ignore"):
                f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                total += (int(f[11]) + int(f[12])) / tick
        except OSError:
            pass
    return total


def job_seconds(runs: str, run_id: str) -> float:
    st = json.loads((Path(runs) / run_id / "status.json").read_text())
    return st["finished"] - st["started"]


def wait_done(runs: str, run_id: str, timeout: float = 600) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        p = Path(runs) / run_id / "status.json"
        if p.exists() and json.loads(p.read_text())["status"] in ("done", "stopped", "failed"):
            return
        time.sleep(0.2)
    raise RuntimeError("job did not finish")


def ui_runs(dataset: str, epochs: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    runs = tempfile.mkdtemp()
    proc, url = start_server(runs)
    out = {}
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = b.new_page()
            t0 = time.time()
            page.goto(url)
            page.locator(".js-plotly-plot").first.wait_for(timeout=60000)
            out["first_render_s"] = time.time() - t0
            t0 = time.time()
            page.goto(url)
            page.locator(".js-plotly-plot").first.wait_for(timeout=60000)
            out["second_render_s"] = time.time() - t0
            for mode in ("polling", "not_polling", "polling", "not_polling"):  # interleaved, best of two
                page.goto(f"{url}/Train?dataset={dataset}&method=ldl-kl")
                page.get_by_text("Hyper-parameters").click()
                box = page.get_by_role("spinbutton", name="epochs")
                box.fill(str(epochs))
                box.press("Enter")
                time.sleep(1.0)
                c0 = cpu_seconds("chromium")
                page.get_by_role("button", name="▶ Start").click()
                page.wait_for_function("() => location.search.includes('run=')", timeout=30000)
                run_id = page.url.split("run=")[1].split("&")[0]
                if mode == "not_polling":
                    page.goto(url + "/")  # leave the Train page: nothing polls the job
                wait_done(runs, run_id)
                sec, cpu = job_seconds(runs, run_id), cpu_seconds("chromium") - c0
                if sec < out.get(f"job_{mode}_s", float("inf")):
                    out[f"job_{mode}_s"], out[f"browser_cpu_{mode}_s"] = sec, cpu
            b.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return out


def library_run(dataset: str, epochs: int) -> float:
    from ildl.jobs import JobRegistry
    from ildl.runs import RunStore

    runs = tempfile.mkdtemp()
    reg = JobRegistry(RunStore(runs))
    job = reg.submit(dict(dataset=dataset, methods=["uniform", "train_mean", "ldl-kl"], fold_ids=[0],
                          settings={"ldl-kl": {"epochs": epochs}}))
    job.join()
    return job_seconds(runs, job.id)


def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_run() -> dict[str, float]:
    from ildl.jobs import JobRegistry
    from ildl.runs import RunStore

    before = rss_mb()
    reg = JobRegistry(RunStore(tempfile.mkdtemp()))
    job = reg.submit(dict(dataset="synthetic", dataset_kw=dict(n=2000), protocol="kfold", methods=["ldl-kl"],
                          fold_ids=None))
    job.join()
    steps, other = job.log.snapshot()
    n_events = sum(1 for _ in open(job.store.path(job.id) / "events.jsonl"))
    return dict(long_run_s=job.finished - job.started, events_on_disk=n_events, steps_in_memory=len(steps),
                other_events_in_memory=len(other),
                rss_after_mb=rss_mb(), rss_before_mb=before,
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="Movie")
    ap.add_argument("--epochs", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the library-alone run (the app uses "
                    "cores − 1)")
    ap.add_argument("--skip-memory", action="store_true")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    lib = min(library_run(a.dataset, a.epochs) for _ in range(2))
    ui = ui_runs(a.dataset, a.epochs)
    print(f"time to first render (cold server, first page load): {ui['first_render_s']:.2f} s; "
          f"second load {ui['second_render_s']:.2f} s")
    print(f"LDL-KL, {a.dataset} fold 0, {a.epochs} epochs — library alone ({a.threads} torch thread(s)): {lib:.2f} s; from the app while the Train page "
          f"polls: {ui['job_polling_s']:.2f} s ({ui['job_polling_s'] / lib - 1:+.1%}); app, page not polling: "
          f"{ui['job_not_polling_s']:.2f} s ({ui['job_not_polling_s'] / lib - 1:+.1%})")
    print(f"CPU used by the headless browser meanwhile (it shares the 2 cores): polling "
          f"{ui['browser_cpu_polling_s']:.2f} s, not polling {ui['browser_cpu_not_polling_s']:.2f} s")
    if not a.skip_memory:
        m = memory_run()
        print(f"long run (synthetic n=2000, K-fold, 10 folds × 300 epochs) {m['long_run_s']:.0f} s: "
              f"{m['events_on_disk']} events on disk, {m['steps_in_memory']} step events kept in memory "
              f"(thinned); RSS {m['rss_before_mb']:.0f} MB before, {m['rss_after_mb']:.0f} MB after (peak "
              f"{m['peak_rss_mb']:.0f} MB)")
    print(f"slowdown from polling (app polling vs app not polling): "
          f"{ui['job_polling_s'] / ui['job_not_polling_s'] - 1:+.1%}")
    print(f"reproduce: python bench/ui_overhead.py --dataset {a.dataset} --epochs {a.epochs}")


if __name__ == "__main__":
    main()
