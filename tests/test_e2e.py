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


RUNS: dict = {}  # port → the server's runs dir (tests that count the runs a click made)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    runs = tmp_path_factory.mktemp("runs")
    RUNS[port] = runs
    env = dict(os.environ, ILDL_RUNS_DIR=str(runs))
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


def _live(page):
    """The live chart component's plot (pages/_ui/live_chart.py draws it inside its own frame)."""
    return page.frame_locator("iframe").first.locator("#chart")


def _points(page):
    """The last x value (step) drawn in the live training chart (long series are strided, so the number of
    points drawn can drop while the data grow; the last step cannot)."""
    chart = _live(page)
    if not chart.count():
        return 0
    return chart.evaluate("""p => { const fd = p._fullData;
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
    page.goto(server + "/Train?method=ldl-kl&train_pace=0.05")  # ≥ 0.05 s an epoch: still running when Stop comes
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
    page.get_by_role("button", name="Stop").click()
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
    # The page answers a click while the study trains, and the click holds: the list sits below the live table, so
    # a redraw moves the expander (an unkeyed one comes back closed; tests/test_ui_parts.py checks the keys).
    page.get_by_text("Saved studies").click()
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


# ------------------------------------------------------------------------------------------- the classroom
def _run_id(page):
    page.wait_for_function("() => location.search.includes('run=')", timeout=30000)
    return page.url.split("run=")[1].split("&")[0]


def _wait_status(page, status, timeout=120000):
    page.wait_for_function(f"() => /— {status} ·/.test(document.body.innerText)", timeout=timeout)


def _start(page, url):
    page.goto(url)
    page.get_by_role("button", name="▶ Start").click()
    return _run_id(page)


def _banner(page):
    return page.locator("[data-testid='stAlert']").filter(has_text="Viewing run").first.inner_text()


def test_the_banner_names_the_run_shown_not_the_sidebar(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    rid = _start(page, server + "/Train?method=ldl-kl&syn_n=200&p_epochs=20")
    _wait_status(page, "done")
    assert rid in _banner(page) and "ldl-kl" in _banner(page)
    # switch the sidebar's method: the charts and the banner stay the run's, a note says what Start would train
    page.get_by_test_id("stSidebar").get_by_role("combobox", name="Method").click()
    page.get_by_role("option", name="AMEMA").click()
    page.wait_for_function("() => document.body.innerText.includes('The controls above now set up another run')",
                           timeout=30000)
    banner = _banner(page)
    assert "ldl-kl" in banner and "amema" not in banner.split("—")[1].lower().split("·")[0]
    page.close()


def test_a_deep_link_to_a_pc_run_restores_its_controls(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(server + "/Train?method=amema&syn_n=200&p_epochs=5")
    page.get_by_text("+pc", exact=True).click()
    page.get_by_role("button", name="▶ Start").click()
    rid = _run_id(page)
    _wait_status(page, "done")
    page.close()
    other = browser.new_context().new_page()  # another browser opens the link
    other.set_viewport_size({"width": 1400, "height": 1400})
    other.goto(server + f"/Train?dataset=synthetic&syn_n=200&run={rid}")
    _wait_status(other, "done")
    assert "amema+pc" in _banner(other)
    assert other.get_by_role("switch", name="+pc", exact=True).is_checked()
    assert other.get_by_test_id("stSidebar").get_by_role("combobox", name="Method").input_value() == "AMEMA · ILDL"
    other.context.close()


def _xrange(page):
    return _live(page).evaluate("p => p.layout && p.layout.xaxis && p.layout.xaxis.range ? p.layout.xaxis.range.slice() : null")


def test_a_zoom_survives_three_polls_of_a_running_job(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    _start(page, server + "/Train?method=ldl-kl&p_epochs=5000&train_pace=0.05")
    page.wait_for_function("() => /— running ·/.test(document.body.innerText)", timeout=30000)
    t0 = time.time()
    while _points(page) < 2 and time.time() - t0 < 30:
        time.sleep(0.25)
    time.sleep(1.0)
    # a reader's zoom: drag a box on the first panel (the way a person zooms in Plotly)
    box = page.frame_locator("iframe").first.locator(".nsewdrag").first.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + box["width"] * 0.3, y0 + box["height"] * 0.4, steps=8)
    page.mouse.up()
    time.sleep(0.3)
    zoomed = _xrange(page)
    assert zoomed is not None
    last = _points(page)
    time.sleep(3.5)  # three polls of one second
    assert _points(page) > last  # the data kept arriving…
    assert _xrange(page) == pytest.approx(zoomed)  # …and the zoom stayed
    page.get_by_role("button", name="Stop").click()
    _wait_status(page, "stopped", 20000)
    page.close()


def test_the_replay_steps_through_w_and_mu(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    _start(page, server + "/Train?method=amema&syn_n=200&p_epochs=6")
    _wait_status(page, "done")
    page.get_by_role("button", name="First").click()
    page.wait_for_function("() => document.body.innerText.includes('Epoch 1 of 6')", timeout=20000)

    def line(e):
        return next(t for t in page.locator("[data-testid='stMarkdownContainer']").all_inner_texts()
                    if t.startswith(f"Epoch {e} of 6"))

    first = line(1)
    assert "w_ns" in first and "mu_ns" in first
    page.get_by_role("button", name="Step").click()
    page.wait_for_function("() => document.body.innerText.includes('Epoch 2 of 6')", timeout=20000)
    second = line(2)
    w = [float(re.search(r"w_ns = ([\d.e-]+)", t).group(1)) for t in (first, second)]
    mu = [float(re.search(r"mu_ns = ([\d.e-]+)", t).group(1)) for t in (first, second)]
    assert w[0] != w[1] and mu[1] > mu[0]  # the non-dominant momentum climbs, step by step
    page.close()


def test_two_runs_keep_one_colour_each_across_compare(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    for epochs in (5, 9):
        _start(page, server + f"/Train?method=ldl-kl&syn_n=300&p_epochs={epochs}")
        _wait_status(page, "done")
    page.goto(server + "/Compare?syn_n=300")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4", timeout=60000)
    time.sleep(1.0)
    colours = page.evaluate("""() => {
        const out = {};
        for (const p of document.querySelectorAll('.js-plotly-plot')) {
            for (const t of p._fullData || []) {
                if (!t.name || !t.name.startsWith('ldl-kl') || t.showlegend === false) continue;
                const c = (t.marker && t.type === 'bar') ? t.marker.color : (t.line && t.line.color);
                (out[t.name] = out[t.name] || new Set()).add(String(c));
            }
        }
        return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v]]));
    }""")
    runs = [k for k in colours if "epochs=" in k]
    assert len(runs) == 2, colours  # labelled by what differs between them
    assert all(len(colours[r]) == 1 for r in runs), colours  # one colour per run in every chart
    assert colours[runs[0]] != colours[runs[1]]
    page.close()


def test_a_teaching_page_is_restored_exactly_from_its_url(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(server + "/Soft_labels")
    page.get_by_test_id("stSlider").first.wait_for(timeout=30000)
    slider = page.get_by_role("slider", name="β — how fast the label descends")
    slider.focus()
    for _ in range(6):
        slider.press("ArrowRight")  # β 1.0 → 1.3
    page.wait_for_function("() => location.search.includes('soft_beta=1.3')", timeout=20000)
    g = page.get_by_role("slider", name="true group g")
    g.focus()
    g.press("ArrowRight")
    page.wait_for_function("() => location.search.includes('soft_g=')", timeout=20000)
    url = page.url
    g_value = int(page_value(url, "soft_g"))
    peak = "() => { const y = Array.from(document.querySelectorAll('.js-plotly-plot')[1]._fullData[0].y);" \
           " return y.indexOf(Math.max(...y)); }"
    page.wait_for_function(f"() => ({peak})() === {g_value}", timeout=20000)  # the chart redrew for g
    matrix = page.evaluate("() => JSON.stringify(document.querySelectorAll('.js-plotly-plot')[1]._fullData[0].y)")
    page.close()
    other = browser.new_context().new_page()
    other.goto(url)
    other.get_by_test_id("stSlider").first.wait_for(timeout=30000)
    assert other.get_by_role("slider", name="β — how fast the label descends").input_value() == "1.3"
    assert other.get_by_role("slider", name="true group g").input_value() == page_value(url, "soft_g")
    time.sleep(1.0)
    assert other.evaluate("() => JSON.stringify(document.querySelectorAll('.js-plotly-plot')[1]._fullData[0].y)") \
        == matrix
    other.context.close()


def page_value(url, key):
    return url.split(f"{key}=")[1].split("&")[0]


def test_another_browser_may_watch_but_not_stop_a_run(server, browser):
    owner = browser.new_context().new_page()
    rid = _start(owner, server + "/Train?method=ldl-kl&syn_n=200&p_epochs=3000&train_pace=0.1")  # paced: still running when checked
    _wait_status(owner, "running", 30000)
    visitor = browser.new_context().new_page()
    visitor.goto(server + f"/Train?run={rid}&syn_n=200")
    _wait_status(visitor, "running", 30000)
    assert visitor.get_by_role("button", name="Stop").is_disabled()
    assert owner.get_by_role("button", name="Stop").is_enabled()
    owner.get_by_role("button", name="Stop").click()
    _wait_status(owner, "stopped", 20000)
    owner.context.close()
    visitor.context.close()
