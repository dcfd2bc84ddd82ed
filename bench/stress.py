"""N browsers against one server, a hostile visitor among them, then a full disk.

Phase 1 (load): each session opens the Train page in its own headless-Chromium context and starts a job, while a
hostile visitor asks for a 5000-epoch run at a 1 s/epoch pace (must be refused before training) and floods Start
(triple clicks, then more runs than the per-visitor limit). Printed: how many jobs ran at once and waited, whether
every ordinary visitor's run finished, what the hostile visitor got, the server's peak memory, page errors.
Phase 2 (disk, needs root to mount a 3 MB tmpfs): visitor A's long run fills the runs folder's disk, visitor B's
short run waits behind it; the disk is then freed. A must end *failed* ("no space left") and B must finish.

    python bench/stress.py                 # 6 sessions, LDL-KL 2000 epochs each, then the disk phase: ~2 min
    python bench/stress.py --sessions 12 --epochs 400 --phases load

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


def start_server(runs: Path, **env_extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, ILDL_RUNS_DIR=str(runs), **env_extra)
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
    return server, url


def hostile(browser, url: str, runs: Path) -> list[str]:
    """A visitor who tries to hold the server: a run far over the time limit, then a Start flood."""
    out = []
    page = browser.new_context().new_page()
    page.goto(f"{url}/Train?method=ldl-kl&p_epochs=5000&train_pace=1.0")
    page.get_by_role("button", name="▶ Start").wait_for(timeout=60000)
    time.sleep(2.0)
    refused = "ILDL_JOB_SECONDS" in page.inner_text("body") and page.get_by_role("button", name="▶ Start").is_disabled()
    out.append(f"5000 epochs at 1 s/epoch: {'refused before training (time limit)' if refused else 'ACCEPTED'}")
    paced = "&train_pace=0.02"  # 60 s each without burning CPU: the runs are still going when the next click comes
    page.goto(f"{url}/Train?method=ldl-kl&syn_n=400&p_epochs=3000{paced}")
    start = page.get_by_role("button", name="▶ Start")
    start.wait_for(timeout=60000)
    before = set(statuses(runs))
    start.click(click_count=3)
    time.sleep(3.0)
    made = len(set(statuses(runs)) - before)
    out.append(f"triple click on Start: {made} run{'s' if made != 1 else ''}")
    page.goto(f"{url}/Train?method=ldl-kl&syn_n=400&p_epochs=2999{paced}")  # another run while the first trains
    page.get_by_role("button", name="▶ Start").click()
    time.sleep(3.0)
    page.goto(f"{url}/Train?method=ldl-kl&syn_n=400&p_epochs=2998{paced}")  # a third: over the per-visitor limit
    page.get_by_role("button", name="▶ Start").click()
    time.sleep(3.0)
    limited = "per visitor" in page.inner_text("body")
    out.append(f"third concurrent run: {'refused (per-visitor limit)' if limited else 'ACCEPTED'}")
    out.append("_refused" if refused and limited and made == 1 else "_not refused")
    return out


def disk_phase(browser) -> tuple[list[str], bool]:
    """A full disk under visitor A's run; B's short run queued behind it must still finish once space frees."""
    mnt = Path(tempfile.mkdtemp(prefix="ildl-disk-"))
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True).returncode:
        return ["disk phase skipped: cannot mount a 3 MB tmpfs here (needs root)"], True
    runs = mnt / "runs"
    server, url = start_server(runs, ILDL_MAX_JOBS="1")
    try:
        ballast = mnt / "ballast"
        a = browser.new_context().new_page()
        a.goto(f"{url}/Train?method=ldl-kl&syn_n=400&p_epochs=3000")
        a.get_by_role("button", name="▶ Start").click()
        a.wait_for_function("() => location.search.includes('run=')", timeout=60000)
        with open(ballast, "wb") as fh:  # fill what is left of the disk under A's run
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError:
                pass
        try:  # A's page (polling its live job) must say that it failed, and why
            a.wait_for_function("() => /— failed ·/.test(document.body.innerText)", timeout=120000)
        except Exception:  # noqa: BLE001 — reported below
            pass
        a_text = a.inner_text("body").lower()
        ballast.unlink()  # the disk frees: the next visitor's run must start and finish (A's slot was freed)
        b = browser.new_context().new_page()
        b.goto(f"{url}/Train?method=ldl-kl&syn_n=200&p_epochs=5")
        b.get_by_role("button", name="▶ Start").click()
        b.wait_for_function("() => location.search.includes('run=')", timeout=60000)
        try:
            b.wait_for_function("() => /— done ·/.test(document.body.innerText)", timeout=120000)
            b_done = True
        except Exception:  # noqa: BLE001
            b_done = False
        ok = "— failed ·" in a.inner_text("body") and "no space left" in a_text and b_done
        return [f"disk phase (3 MB tmpfs, ILDL_MAX_JOBS=1): A's long run {'ended failed, “no space left” on its page' if 'no space left' in a_text else 'did NOT report the full disk'}; "
                f"once the disk freed, B's new run {'trained and finished' if b_done else 'DID NOT FINISH'}"], ok
    finally:
        server.terminate()
        server.wait(10)
        subprocess.run(["umount", str(mnt)], capture_output=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=2000, help="long enough that the jobs overlap")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--phases", default="load,disk", help="comma-separated: load (with the hostile visitor), disk")
    a = ap.parse_args(argv)
    phases = set(a.phases.split(","))
    if not os.path.exists(CHROMIUM):
        print("chromium is not installed: apt-get install chromium")
        return 2
    from playwright.sync_api import sync_playwright

    runs = Path(tempfile.mkdtemp(prefix="ildl-stress-")) / "runs"
    server, url = start_server(runs)
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
    hostile_lines: list[str] = []
    disk_lines, disk_ok = [], True
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            if "load" not in phases:
                a.sessions = 0
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
            ordinary = set(statuses(runs))
            t1 = time.time()
            while time.time() - t1 < a.timeout:
                st = sample()
                if all(st.get(r) in ("done", "failed", "stopped") for r in ordinary):
                    break
                time.sleep(0.5)
            for i, page in enumerate(pages):
                text = page.inner_text("body")
                errors += [f"session {i}: {e}" for e in ERRORS if e in text]
            if "load" in phases:  # after the class's runs: limits, not fairness (the slot is FIFO-ish, not per visitor)
                hostile_lines = hostile(browser, url, runs)
            if "disk" in phases:
                disk_lines, disk_ok = disk_phase(browser)
            browser.close()
        final = {r: v for r, v in statuses(runs).items() if r in ordinary}
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
    for line in hostile_lines[:-1]:
        print(f"hostile visitor: {line}")
    for line in disk_lines:
        print(line)
    print(f"reproduce: python bench/stress.py --sessions {a.sessions} --epochs {a.epochs} --phases {a.phases}")
    bad_hostile = bool(hostile_lines) and hostile_lines[-1] != "_refused"
    return 1 if errors or any(v != "done" for v in final.values()) or bad_hostile or not disk_ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
