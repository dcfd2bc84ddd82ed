"""Issue 18 without a browser: chart axes and legends, short run labels, paper tables, the CLI table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ildl import compare as CMP
from ildl import report, viz
from ildl.methods import REGISTRY


def _panel(values, log=True, n=2):
    df = pd.DataFrame({"method": "m", "fold": 0, "step": np.arange(len(values)), "loss": values})
    return viz.panel([dict(df=df, ys=["loss"], log_y=log)] * n)


def test_no_log_axis_for_values_that_can_be_non_positive():
    fig = _panel(np.linspace(-0.5, 0.5, 50))
    assert fig.layout.yaxis.type == "linear"
    assert _panel(np.linspace(0.01, 2, 50)).layout.yaxis.type == "log"
    assert _panel(np.geomspace(1e-3, 1, 50)).layout.yaxis.dtick == 1  # one tick per decade, no minor labels


def test_panel_legends_sit_below_their_plot_area():
    fig = _panel(np.linspace(0.1, 1, 20), n=4)
    lay = fig.layout.to_plotly_json()
    for i in range(4):
        sfx = "" if i == 0 else str(i + 1)
        lo = lay["yaxis" + sfx]["domain"][0]
        assert lay["legend" + sfx]["y"] <= lo and lay["legend" + sfx]["yanchor"] == "top"


def test_palette_has_no_red_beside_green():
    assert "#d62728" not in viz.PALETTE and "#2ca02c" not in viz.PALETTE
    assert len(set(viz.PALETTE)) == len(viz.PALETTE)


def _cfg(method, **settings):
    full = REGISTRY[method].config(settings)
    return dict(task="ldl", dataset="Movie", methods=["uniform", "train_mean", method], settings={method: full},
                fold_ids=[0], select=["val_kl_balanced"], seed=0)


def test_labels_are_short_and_differ_within_a_method():
    cfgs = {"a": _cfg("rda"), "b": _cfg("dildl"), "c": _cfg("amema"), "d": _cfg("ofr-db"),
            "e": _cfg("amema", weig=False)}
    lab = CMP.labels(cfgs)
    assert lab["a"] == "rda" and lab["b"] == "dildl" and lab["d"] == "ofr-db"
    assert lab["c"] == "amema · weig=True" and lab["e"] == "amema · weig=False"
    assert all(len(v) <= 40 and "None" not in v for v in lab.values())
    many = {str(i): _cfg("amema", epochs=10 + i, lr=1e-3 * (i + 1), b=0.1 + 0.01 * i, ema=0.5 + 0.01 * i)
            for i in range(3)}
    lab = CMP.labels(many)
    assert all(len(v) <= 40 for v in lab.values()) and len(set(lab.values())) == 3
    assert any("… +" in v for v in lab.values())


def _rows():
    rng = np.random.default_rng(0)
    rows = []
    for f in range(6):
        rows.append(dict(method="uniform", fold=f, chebyshev=0.18, kl=0.2))
        rows.append(dict(method="good", fold=f, chebyshev=0.15 + 0.001 * rng.standard_normal(), kl=0.15))
        rows.append(dict(method="bad", fold=f, chebyshev=0.30 + 0.001 * rng.standard_normal(), kl=0.4 + 0.01 * f))
    return rows


def test_paper_table_marks_bold_and_latex():
    t = report.table(_rows(), reference="good", metrics=("chebyshev", "kl"))
    assert list(t["config"]) == ["uniform", "good", "bad"]
    assert t.loc[t["config"] == "bad", "chebyshev"].item().endswith("•")  # the reference is better
    assert t.loc[t["config"] == "good", "best_chebyshev"].item()
    md = report.markdown(t)
    assert "| _uniform_ |" in md and "**0.15" in md
    tex = report.latex(t, "a caption with 50% and x_y")
    assert r"\textbf{0.15" in tex and r"$\bullet$" in tex and r"50\%" in tex and r"x\_y" in tex
    assert "significantly **better** than bad" in " ".join(report.verdict(t, "good"))
    few = report.table([r for r in _rows() if r["fold"] < 3], reference="good", metrics=("kl",))
    assert "little power" in report.caution(few)
    assert "no significance test" in report.caution(report.table(_rows()[:3], reference="good"))


def test_published_figures_in_brackets():
    rows = [dict(method="amema", fold=f, chebyshev=0.2, kl=0.3) for f in range(3)]
    t = report.table(rows, dataset="Movie", metrics=("chebyshev", "kl"))
    assert "[0.1703]" in report.markdown(t) and "[0.1924]" in report.markdown(t)


def test_cli_table(tmp_path, capsys):
    from ildl.cli import main

    p = tmp_path / "r.csv"
    pd.DataFrame(_rows()).to_csv(p, index=False)
    assert main(["table", str(p), "--metrics", "chebyshev,kl", "--latex"]) == 0
    out = capsys.readouterr().out
    assert r"\begin{tabular}" in out and "good" in out
    assert main(["table", str(p), "--metrics", "nope"]) == 2
    assert "no column" in capsys.readouterr().err
    assert main(["table", str(p), "--reference", "zzz"]) == 2
    (tmp_path / "bad.csv").write_bytes(b"\x00\x01garbage")
    assert main(["table", str(tmp_path / "bad.csv")]) == 2


@pytest.mark.parametrize("n", [1, 3])
def test_run_titles_name_date_and_folds(n):
    runs = [dict(id=f"r{i}", created=1.7e9, config=_cfg("amema", epochs=10 + i) | {"fold_ids": list(range(n))})
            for i in range(2)] + [dict(id="x", damaged="config.json is missing", config=None)]
    t = CMP.run_titles(runs)
    assert t["r0"].startswith("amema · epochs=10") and (" · folds 0–2" in t["r0"] if n == 3 else " · fold 0" in t["r0"])
    assert t["x"].startswith("damaged")
