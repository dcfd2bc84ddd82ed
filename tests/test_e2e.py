"""End to end: `streamlit run app.py` in a subprocess, driven in headless Debian Chromium by playwright."""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    env = dict(os.environ, ILDL_RUNS_DIR=str(tmp_path_factory.mktemp("runs")))
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    t0 = time.time()
    while time.time() - t0 < 60:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            time.sleep(0.25)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + proc.stdout.read().decode()[-2000:])
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    pw = pytest.importorskip("playwright.sync_api")
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _points(page):
    """The last x value (step) drawn in the first training chart (long series are strided, so the number of
    points drawn can drop while the data grow; the last step cannot)."""
    return page.evaluate("""() => { const p = document.querySelectorAll('.js-plotly-plot');
        const fd = p.length ? p[0]._fullData : null;
        if (!fd || !fd.length) return 0;
        const xs = fd[fd.length - 1].x || [];
        return xs.length ? Number(xs[xs.length - 1]) : 0; }""")


def _status(page):
    m = re.search(r"— (queued|running|done|stopped|failed|interrupted) ·", page.inner_text("body"))
    return m.group(1) if m else None


def test_home_renders_default_dataset_at_once(server, browser):
    page = browser.new_page()
    t0 = time.time()
    page.goto(server)
    page.get_by_text("800 samples · 20 features · 5 labels").wait_for(timeout=30000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30000)
    print(f"time to first render: {time.time() - t0:.2f} s")
    assert "Traceback" not in page.inner_text("body")
    page.close()


def test_train_start_watch_chart_update_then_stop(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(server + "/Train?method=ldl-kl")
    page.get_by_text("Hyper-parameters").click()
    epochs = page.get_by_role("spinbutton", name="epochs")
    epochs.fill("3000")
    epochs.press("Enter")
    time.sleep(1.0)
    page.get_by_role("button", name="▶ Start").click()
    page.wait_for_function("() => document.body.innerText.includes('running')", timeout=30000)
    t0 = time.time()
    while _points(page) < 5 and time.time() - t0 < 30:
        time.sleep(0.25)
    n1 = _points(page)
    time.sleep(2.0)
    n2 = _points(page)
    assert n2 > n1 > 0, (n1, n2)  # the chart keeps updating while the job runs
    assert "run=" in page.url
    page.reload()  # a refresh mid-run finds the run still going (its id is in the URL)
    page.wait_for_function("() => /— running ·/.test(document.body.innerText)", timeout=30000)
    page.get_by_role("button", name="⏹ Stop").click()
    page.wait_for_function("() => /— stopped ·/.test(document.body.innerText)", timeout=10000)
    assert _status(page) == "stopped"
    # refresh keeps the run (its id is in the URL)
    page.reload()
    page.wait_for_function("() => /— stopped ·/.test(document.body.innerText)", timeout=30000)
    assert "Traceback" not in page.inner_text("body")
    page.close()


def test_two_tabs_each_train(server, browser):
    pages = []
    for method in ("ldl-kl", "amema"):
        ctx = browser.new_context()  # a separate browser session, like a second user
        pg = ctx.new_page()
        pg.goto(server + f"/Train?method={method}")
        pg.get_by_role("button", name="▶ Start").click()
        pg.wait_for_function("() => location.search.includes('run=')", timeout=30000)
        pages.append(pg)
    ids = [pg.url.split("run=")[1].split("&")[0] for pg in pages]
    assert ids[0] != ids[1]
    for pg in pages:
        pg.wait_for_function("() => /— done ·/.test(document.body.innerText)", timeout=90000)
        pg.wait_for_function("() => /(beats|does not beat) the uniform predictor/.test(document.body.innerText)",
                             timeout=30000)
        pg.context.close()


def test_study_cells_fill_in(server, browser):
    """The AMEMA study on Movie: the table fills in chunk by chunk while the page keeps answering."""
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(server + "/Ablation?dataset=Movie")
    page.get_by_role("button", name="▶ Start").click()
    page.wait_for_function("() => /— running ·/.test(document.body.innerText)", timeout=30000)
    t_click = time.time()
    page.get_by_text("Saved studies").click()  # the page answers a click while the study trains
    page.get_by_test_id("stExpanderDetails").locator("button").filter(has_text="Open").wait_for(timeout=5000)
    responsive_s = time.time() - t_click
    seen = set()
    t0 = time.time()
    while time.time() - t0 < 180:
        cells = page.locator("table tr:has(td:text-is('weig+mome')) td").all_inner_texts()
        if len(cells) > 1:
            seen.add(cells[1])
        if _status_text(page) == "done":
            break
        time.sleep(0.3)
    assert _status_text(page) == "done"
    page.wait_for_function("""() => [...document.querySelectorAll('table tr')].some(
        tr => tr.cells.length > 1 && tr.cells[0].innerText.trim() === 'weig+mome' && tr.cells[1].innerText.trim() === '10')""",
                           timeout=15000)
    seen.add("10")
    assert len(seen) >= 2, seen  # the fold count grew while the study ran (more than one value seen)
    assert responsive_s < 5, responsive_s
    page.close()


def _status_text(page):
    m = re.search(r"— (queued|running|done|stopped|failed) ·", page.inner_text("body"))
    return m.group(1) if m else None
