"""How fast the first page paints on a cold server (issue 21), measured in headless Chromium.

    python bench/first_paint.py            # 3 cold starts, median; about a minute on 2 CPU cores

Per run: a fresh `streamlit run app.py`; once its port answers, the clock starts at the first navigation and stops
when the Home title is visible (cold title), then when the first chart has drawn (cold chart); then a second
navigation (warm title, warm chart) and a page switch to Data (its title). The training stack (torch,
scikit-learn) loads in a background thread meanwhile; the device line fills in when it is done (time shown too).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from stress import ARGS, CHROMIUM, start_server  # noqa: E402

TITLE = "Imbalanced label-distribution learning lab"


def one(browser) -> dict[str, float]:
    runs = Path(tempfile.mkdtemp(prefix="ildl-paint-")) / "runs"
    server, url = start_server(runs)
    try:
        page = browser.new_context().new_page()
        t0 = time.perf_counter()
        page.goto(url)
        page.get_by_text(TITLE).wait_for(timeout=60000)
        out = {"cold title": time.perf_counter() - t0}
        page.locator(".js-plotly-plot").first.wait_for(timeout=60000)
        out["cold chart"] = time.perf_counter() - t0
        page.wait_for_function("() => /Device: (?!detecting)/.test(document.body.innerText)", timeout=120000)
        out["device line"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        page.goto(url)
        page.get_by_text(TITLE).wait_for(timeout=60000)
        out["warm title"] = time.perf_counter() - t1
        page.locator(".js-plotly-plot").first.wait_for(timeout=60000)
        out["warm chart"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        page.get_by_test_id("stSidebar").get_by_text("Data", exact=True).click()
        page.get_by_role("heading", name="Data").wait_for(timeout=60000)
        out["page switch (Data)"] = time.perf_counter() - t2
        page.context.close()
        return out
    finally:
        server.terminate()
        server.wait(10)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print("chromium is not installed: apt-get install chromium")
        return 2
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for _ in range(a.runs):
            results.append(one(browser))
        browser.close()
    print(f"first paint, {a.runs} cold servers, {os.cpu_count()} cores (median, min–max, seconds):")
    for k in results[0]:
        v = [r[k] for r in results]
        print(f"  {k:<20} {statistics.median(v):.2f}  ({min(v):.2f}–{max(v):.2f})")
    print(f"cold median to the Home title: {statistics.median(r['cold title'] for r in results):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
