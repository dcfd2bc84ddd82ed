"""Issue 18 in headless Chromium: cleared selects keep their value, a double click is one job, an opened study
sets the Ablation controls, Compare labels stay short and its table and figures download."""
import json
import time

import pytest
from test_e2e import RUNS, _run_id, _start, _wait_status, browser, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e
ERROR = "This app has encountered an error"


def _sidebar_select(page, label):
    return page.get_by_test_id("stSidebar").locator("[data-testid=stSelectbox]").filter(has_text=label)


def _no_error(page):
    body = page.inner_text("body")
    assert ERROR not in body and "Traceback" not in body and "None is not in list" not in body
    assert page.locator("[data-testid=stException]").count() == 0


def test_esc_and_clear_on_selects_keep_the_value(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    rid = _start(page, server + "/Train?method=amema&syn_n=200&p_epochs=3")
    _wait_status(page, "done")
    page.goto(server + f"/Train?run={rid}&syn_n=200")
    _wait_status(page, "done")
    for label, want in (("Method", "AMEMA · ILDL"), ("Dataset", "synthetic")):
        box = _sidebar_select(page, label)
        box.get_by_role("combobox").click()
        page.keyboard.press("Escape")
        time.sleep(1.5)
        _no_error(page)
        assert box.get_by_role("combobox").input_value() == want, label
        box.get_by_label("Clear value").click()  # the ⊗
        time.sleep(2.0)
        _no_error(page)
        assert box.get_by_role("combobox").input_value() == want, label
        assert "=None" not in page.url
    # a page select with a non-default URL value (no run on view: the run's own rule would be adopted)
    page.goto(server + "/Train?syn_n=200&train_select=last")
    page.get_by_role("button", name="▶ Start").wait_for()
    sel = page.locator("[data-testid=stSelectbox]").filter(has_text="model selection")
    assert sel.get_by_role("combobox").input_value() == "last"
    sel.get_by_role("combobox").click()
    page.keyboard.press("Escape")
    time.sleep(1.0)
    sel.get_by_label("Clear value").click()
    time.sleep(2.0)
    _no_error(page)
    assert sel.get_by_role("combobox").input_value() == "last"
    assert "train_select=last" in page.url
    page.close()


def test_double_click_on_start_makes_one_job(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(server + "/Train?method=ldl-kl&syn_n=250&p_epochs=400")
    page.get_by_role("button", name="▶ Start").wait_for()
    page.get_by_role("button", name="▶ Start").dblclick()
    rid = _run_id(page)
    _wait_status(page, "done")
    time.sleep(2.0)  # a second job, had there been one, would exist by now
    runs_dir = RUNS[int(server.rsplit(":", 1)[1])]
    made = [p.name for p in runs_dir.iterdir()
            if (json.loads((p / "config.json").read_text()).get("dataset_kw") or {}).get("n") == 250]
    assert made == [rid], made
    page.close()


def test_opening_a_dildl_study_sets_the_ablation_controls(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(server + "/Ablation?abl_study=dildl&dataset=synthetic&syn_n=200&abl_epochs=2&abl_folds_ldl=1"
                       "&abl_folds_ldl=3")
    page.get_by_role("button", name="▶ Start").click()
    page.wait_for_function("() => location.search.includes('study_run=')", timeout=30000)
    sid = page.url.split("study_run=")[1].split("&")[0]
    page.wait_for_function("() => /— done ·/.test(document.body.innerText)", timeout=120000)
    other = browser.new_context().new_page()  # a fresh browser opens the study's link without the controls
    other.set_viewport_size({"width": 1400, "height": 1400})
    other.goto(server + f"/Ablation?study_run={sid}")
    other.wait_for_function("() => /Viewing study/.test(document.body.innerText)", timeout=60000)
    study = other.locator("[data-testid=stSelectbox]").filter(has_text="Study").get_by_role("combobox")
    assert "DILDL" in study.input_value()
    assert _sidebar_select(other, "Dataset").get_by_role("combobox").input_value() == "synthetic"
    folds = other.locator("[data-testid=stMultiSelect]").filter(has_text="Folds").inner_text()
    assert "1" in folds and "3" in folds and "0\n" not in folds
    assert "folds 1, 3" in other.inner_text("body")
    _no_error(other)
    other.context.close()
    page.close()


def test_compare_four_methods_short_labels_wide_radar_downloads(server, browser, tmp_path):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1600}, accept_downloads=True)
    ids = []
    for m in ("rda", "dildl", "amema", "ofr-db"):
        ids.append(_start(page, server + f"/Train?method={m}&syn_n=200&p_epochs=3"))
        _wait_status(page, "done")
    page.goto(server + "/Compare?syn_n=200&" + "&".join(f"cmp_run={r}" for r in ids))
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4", timeout=60000)
    time.sleep(1.5)
    names = page.evaluate("""() => [...new Set([...document.querySelectorAll('.js-plotly-plot')].flatMap(
        p => (p._fullData || []).filter(t => t.showlegend !== false && t.name).map(t => t.name)))]""")
    runs = [n for n in names if n.split(" ")[0] in ("rda", "dildl", "amema", "ofr-db")]
    assert {n.split(" ")[0] for n in runs} == {"rda", "dildl", "amema", "ofr-db"}, names
    assert all(len(n) <= 40 and "None" not in n for n in runs), runs
    radar = page.evaluate("""() => { const p = [...document.querySelectorAll('.js-plotly-plot')].find(
        p => (p._fullData || []).some(t => t.type === 'scatterpolar'));
        return p ? p.getBoundingClientRect().width : 0; }""")
    assert radar >= 300, radar
    with page.expect_download() as d:
        page.get_by_role("button", name="Table as LaTeX").click()
    tex = open(d.value.path()).read()
    assert r"\begin{tabular}" in tex and r"\textit{uniform}" in tex and r"\bottomrule" in tex and "±" not in tex
    chart = page.locator(".js-plotly-plot").first
    chart.hover()
    with page.expect_download() as d:
        chart.locator("[data-title='Download plot']").first.click()
    assert d.value.suggested_filename.endswith(".svg")
    assert open(d.value.path()).read().lstrip().startswith("<svg")
    _no_error(page)
    page.close()
