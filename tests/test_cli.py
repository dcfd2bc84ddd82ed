import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.io as sio

from conftest import ROOT
from ildl.cli import main

COLS = ["method", "fold", "select", "chebyshev", "clark", "canberra", "kl", "cosine", "intersection", "euclidean",
        "euclidean_tail", "euclidean_head", "kl_dominant", "kl_nondominant", "dominant_acc",
        "prior_gap", "shrink_lambda", "top_pred", "top_test", "seconds", "stack", "stack_seconds"]


def read(p):
    with open(p) as fh:
        return list(csv.DictReader(fh))


def test_run_synthetic_writes_csv_and_events(tmp_path, capsys):
    out, ev = tmp_path / "r.csv", tmp_path / "ev.jsonl"
    rc = main(["run", "--dataset", "synthetic", "--method", "uniform,ldl-kl", "--folds", "5", "--only-folds", "0",
               "--epochs", "3", "--events", str(ev), "--out", str(out), "--quiet"])
    assert rc == 0
    rows = read(out)
    assert list(rows[0])[:len(COLS)] == COLS and [r["method"] for r in rows] == ["uniform", "ldl-kl"]
    assert all(np.isfinite(float(r["kl"])) for r in rows)
    assert rows[0]["stack"] == "" and rows[1]["stack"] == "1"  # a constant trains nothing; ldl-kl alone
    events = [json.loads(line) for line in ev.read_text().splitlines()]
    assert {"method", "fold", "type"} <= set(events[0]) and any(e["type"] == "epoch" for e in events)
    assert "uniform" in capsys.readouterr().out


def test_mat_path_needs_thresholds(tmp_path, capsys, movie):
    p = tmp_path / "mymovie.mat"
    idx = np.random.default_rng(0).choice(movie.n, 600, replace=False)
    sio.savemat(p, dict(features=movie.X[idx], labels=movie.Y[idx]))
    out = tmp_path / "r.csv"
    assert main(["run", "--dataset", str(p), "--method", "uniform", "--out", str(out)]) == 2
    assert "needs thresholds" in capsys.readouterr().err
    assert main(["run", "--dataset", str(p), "--method", "uniform,train_mean", "--thresholds", "1,2,2,0",
                 "--out", str(out), "--quiet"]) == 0
    assert len(read(out)) == 20


def test_errors_are_one_line(tmp_path, capsys):
    out = str(tmp_path / "r.csv")
    for argv in (["run", "--dataset", "nope", "--method", "uniform", "--out", out],
                 ["run", "--dataset", "synthetic", "--method", "magic", "--out", out],
                 ["run", "--dataset", "synthetic", "--method", "ldl-kl", "--set", "nope=1", "--out", out],
                 ["run", "--dataset", "synthetic", "--method", "ldl-kl", "--set", "lr=abc", "--out", out]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), err


def test_datasets_lists_bundled(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "Movie" in out and "7755" in out and "1869" in out and "FG-Net" in out and "synthetic" in out


def test_a_stacked_row_says_its_stack_and_the_stack_s_wall_time(tmp_path):
    """`seconds` is a model's share of its stack's wall time; the row also says the stack's size and time."""
    out = tmp_path / "r.csv"
    assert main(["run", "--dataset", "synthetic", "--method", "ldl-kl,dec-kl", "--folds", "5", "--only-folds", "0,1",
                 "--epochs", "3", "--out", str(out), "--quiet", "--no-save"]) == 0
    rows = read(out)
    assert {r["stack"] for r in rows} == {"2"}  # each method's two folds train as one stack
    for r in rows:
        assert float(r["seconds"]) * 2 == pytest.approx(float(r["stack_seconds"]), rel=1e-9)


def test_a_reader_that_goes_away_is_not_an_error():
    """`python -m ildl methods | head -1`: the closed pipe ends the command quietly."""
    p = subprocess.Popen([sys.executable, "-m", "ildl", "methods"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(60) in (0, 141) and "error" not in err.lower() and "Traceback" not in err


def test_the_recommended_method_is_the_generator_benchs_pick_and_its_lines_match_the_measurements():
    """`python -m ildl methods` names a method to start with; it must be what bench/recommend.py chose (the last
    line of docs/recommend.txt), and every figure it quotes must be the recorded one."""
    import re

    from ildl.methods import parse
    from ildl.tasks import get

    t = get("ldl")
    rec = (ROOT / "docs" / "recommend.txt").read_text().strip().splitlines()
    assert rec[-1] == f"recommended: {t.recommended}"
    parse(t.recommended, "ldl")
    row = next(ln.split() for ln in rec if ln.startswith(t.recommended + " "))
    assert f"beating the uniform predictor in {row[-1]} of them" in t.advice[0]
    n_regimes = sum(ln.startswith("  signal ") for ln in rec)
    assert f"over {n_regimes} regimes" in t.advice[0]
    proxy = (ROOT / "docs" / "proxy_benchmarks.txt").read_text()
    wins = dict(re.findall(r"^  (\S+)\s+(\d+) of 11$", proxy, re.M))
    assert (f"in {wins[t.recommended]} of 11 pairs, ldl-kl+pc+shrink in {wins['ldl-kl+pc+shrink']}, ofr-db+la in "
            f"{wins['ofr-db+la']}") in t.advice[1]
    movie = (ROOT / "docs" / "movie_recommended.txt").read_text()
    cheb = re.search(rf"^{re.escape(t.recommended)}\s+val_kl_balanced\s+([\d.]+)", movie, re.M).group(1)
    assert f"on Movie it does not ({cheb} Chebyshev" in t.advice[2]
    assert all(ln.split()[1] == "0.0" for ln in movie.splitlines() if re.match(r"^\s+\d\s+0\.0\s", ln)) and \
        len(re.findall(r"^\s+\d\s+0\.0\s", movie, re.M)) == 10  # "+shrink keeps λ = 0 on every fold"
    centred = dict(re.findall(r"^  (\S+)\s+(\d+)$", (ROOT / "docs" / "centred.txt").read_text(), re.M))
    assert (f"ofr-db+la beats uniform in {centred['ofr-db+la']} of 12 regimes, {t.recommended} in "
            f"{centred[t.recommended]}") in t.advice[3]
    out = subprocess.run([sys.executable, "-m", "ildl", "methods", "--task", "ldl"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert f"to start with (ldl): {t.recommended}" in out.stdout and t.advice[2][:40] in out.stdout
