"""N browsers against one server: each opens the Train page in its own headless-Chromium session and starts a
job. Prints how many jobs ran at once and how many waited in the queue, the server's peak memory, and whether
any page showed an error.

    python bench/stress.py                 # 6 sessions, LDL-KL 2000 epochs each: about a minute on 2 CPU cores
    python bench/stress.py --sessions 12 --epochs 400

Needs Debian's chromium (`apt-get install chromium`); talks to 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ERRORS = ("Traceback", "This app has encountered an error")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Current resident memory of a process (Linux /proc), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def statuses(runs: Path) -> dict[str, str]:
    out = {}
    for p in runs.iterdir() if runs.is_dir() else []:
        try:
            out[p.name] = json.loads((p / "status.json").read_text()).get("status", "?")
        except (OSError, ValueError):
            out[p.name] = "?"
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=2000, help="long enough that the jobs overlap")
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print("chromium is not installed: apt-get install chromium")
        return 2
    from playwright.sync_api import sync_playwright

    runs = Path(tempfile.mkdtemp(prefix="ildl-stress-")) / "runs"
    port = free_port()
    env = dict(os.environ, ILDL_RUNS_DIR=str(runs))
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                               "--server.address", "127.0.0.1", "--server.headless", "true"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    t0 = time.time()
    while time.time() - t0 < 60:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            time.sleep(0.25)
    base_rss = rss_mb(server.pid)
    t_start = time.time()
    peak = dict(rss=base_rss, running=0, queued=0)

    def sample() -> dict[str, str]:
        st = statuses(runs)
        peak["running"] = max(peak["running"], sum(v == "running" for v in st.values()))
        peak["queued"] = max(peak["queued"], sum(v == "queued" for v in st.values()))
        peak["rss"] = max(peak["rss"], rss_mb(server.pid))
        return st

    errors: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pages = []
            for _ in range(a.sessions):
                ctx = browser.new_context()  # its own cookies: another browser, another owner
                page = ctx.new_page()
                page.goto(f"{url}/Train?method=ldl-kl&syn_n=400&p_epochs={a.epochs}&p_log_every=5")
                page.get_by_role("button", name="▶ Start").click()
                pages.append(page)
                sample()
            for page in pages:
                page.wait_for_function("() => location.search.includes('run=')", timeout=60000)
            t1 = time.time()
            while time.time() - t1 < a.timeout:
                st = sample()
                if len(st) == a.sessions and all(v in ("done", "failed", "stopped") for v in st.values()):
                    break
                time.sleep(0.5)
            for i, page in enumerate(pages):
                text = page.inner_text("body")
                errors += [f"session {i}: {e}" for e in ERRORS if e in text]
            browser.close()
        final = statuses(runs)
    finally:
        server.terminate()
        server.wait(10)
    print(f"{a.sessions} browser sessions, one server (ILDL_MAX_JOBS={os.environ.get('ILDL_MAX_JOBS', 'default')}, "
          f"{os.cpu_count()} cores), LDL-KL {a.epochs} epochs each")
    print(f"jobs: {len(final)} submitted, {sum(v == 'done' for v in final.values())} done, "
          f"{sum(v == 'failed' for v in final.values())} failed; at most {peak['running']} running at once, "
          f"at most {peak['queued']} queued; {time.time() - t_start:.0f} s in all")
    print(f"server RSS: {base_rss:.0f} MB at start, peak {peak['rss']:.0f} MB")
    print("page errors: " + ("none" if not errors else "; ".join(errors)))
    print(f"reproduce: python bench/stress.py --sessions {a.sessions} --epochs {a.epochs}")
    return 1 if errors or any(v == "failed" for v in final.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
