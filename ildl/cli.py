"""Command line: `python -m ildl datasets` and `python -m ildl run ...` (see README)."""
from __future__ import annotations

import argparse
import sys

import numpy as np
from pathlib import Path
from typing import Any, Sequence

from . import data as D
from .config import parse_sets
from .metrics import METRICS
from .methods import parse
from .runs import dumps, rows_to_csv
from .trainer import method_config, run_experiment, summarise


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ildl", description="Imbalanced label-distribution learning lab")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("datasets", help="list the bundled datasets")
    r = sub.add_parser("run", help="train and evaluate methods over the folds of a protocol")
    r.add_argument("--dataset", required=True, help="bundled name, 'synthetic', or a .mat/.npz/.csv path; "
                   "--task lt: digits-lt | synthetic-lt")
    r.add_argument("--method", required=True, help="comma-separated, e.g. uniform,train_mean,ldl-kl,amema+pc; "
                   "--task lt: ce,pc,la,balanced-softmax,lade")
    r.add_argument("--task", default="ldl", choices=["ldl", "lt", "dir"],
                   help="ldl: label distributions (default); lt: long-tailed classification under label shift; "
                        "dir: imbalanced regression (Group-DIR)")
    r.add_argument("--groups", type=int, default=10, help="--task dir: number of groups |G|")
    r.add_argument("--imbalance", type=float, default=100.0, help="--task lt: training imbalance ratio")
    r.add_argument("--test-prior", action="append", dest="test_priors", metavar="PRIOR",
                   help="--task lt, repeatable: uniform | forwardR | backwardR | C comma-separated numbers")
    r.add_argument("--seeds", type=int, default=3, help="--task lt: number of seeds")
    r.add_argument("--protocol", default="ildl", choices=["ildl", "kfold"])
    r.add_argument("--thresholds", help="ILDL filter a,b,c,d (built in for the papers' benchmarks)")
    r.add_argument("--folds", type=int, help="number of folds (default 10; --task dir: 5)")
    r.add_argument("--only-folds", help="run only these fold ids, e.g. 0,1")
    r.add_argument("--epochs", type=int, help="override every method's epochs")
    r.add_argument("--seed", type=int, default=0, help="KFold random_state and model seed (0 = the papers')")
    r.add_argument("--device", default="auto", help="auto | cpu | cuda")
    r.add_argument("--scaling", default="minmax", choices=["minmax", "standard", "none"])
    r.add_argument("--label-columns", help="CSV only: comma-separated label column names")
    r.add_argument("--set", action="append", dest="sets", metavar="KEY=VALUE",
                   help="method option, repeatable; 'amema.weig=false' targets one method")
    r.add_argument("--events", help="write every event as a JSON line to this file")
    r.add_argument("--out", required=True, help="CSV with one row per (method, fold)")
    r.add_argument("--select", default=None, help="model selection: val_kl_balanced (default), val_kl, last, a "
                   "comma-separated list (one CSV row per rule, the first is primary) or all")
    r.add_argument("--diagnostic", action="store_true",
                   help="record test metrics every epoch as 'diag' events (shown, never used for selection)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    a = sub.add_parser("ablate", help="run a built-in ablation study (configs × folds)")
    a.add_argument("--study", required=True, help="amema (WEIG × MOME), dildl (DRDA × DLD), group-dir (criterion × "
                   "|G|, on FG-Net / synthetic-dir) or lt (method × test prior, on digits-lt / synthetic-lt)")
    a.add_argument("--dataset", required=True)
    a.add_argument("--protocol", default="ildl", choices=["ildl", "kfold"])
    a.add_argument("--thresholds")
    a.add_argument("--folds", type=int, help="folds (default 10; group-dir 5); for lt: seeds (default 3)")
    a.add_argument("--only-folds")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--epochs", type=int)
    a.add_argument("--set", action="append", dest="sets", metavar="KEY=VALUE", help="applies to every config")
    a.add_argument("--sequential", action="store_true", help="train model by model instead of batched")
    a.add_argument("--select", default=None, help="model-selection rule (default val_kl_balanced)")
    a.add_argument("--device", default="auto")
    a.add_argument("--events", help="write every event as a JSON line to this file")
    a.add_argument("--with-constants", action="store_true",
                   help="also write the constant predictors' rows to the CSV (they are always in the printed table)")
    a.add_argument("--out", required=True)
    return p


def _settings(methods: Sequence[str], sets: dict[str, str], epochs: int | None) -> dict[str, dict[str, Any]]:
    """Route each --set key to the methods that declare it; unknown everywhere is an error."""
    specs = [parse(m) for m in methods]
    out: dict[str, dict[str, Any]] = {s.name: {} for s in specs if not s.constant}
    for key, val in sets.items():
        target, _, pname = key.rpartition(".")
        hits = [s for s in specs if not s.constant and (not target or target in (s.name, s.base))
                and pname in {p.name for p in s.cls.schema()}]
        if not hits:
            raise ValueError(f"--set {key}: no chosen method has a parameter '{pname}'")
        for s in hits:
            out[s.name][pname] = val
    if epochs is not None:
        for name in out:
            out[name]["epochs"] = epochs
    for name, ov in out.items():  # type-check now: a bad value must fail before hours of training
        method_config(parse(name), ov)
    return out


def _cmd_datasets() -> int:
    rows = D.catalogue()
    print(f"{'name':<12} {'task':<8} {'n':>6} {'d':>6} {'labels':>6}  {'ILDL a,b,c,d':<16} source")
    for r in rows:
        th = ",".join(f"{v:g}" for v in r["ildl_thresholds"]) if r["ildl_thresholds"] else "-"
        print(f"{r['name']:<12} {r['task']:<8} {r['n']:>6} {r['d']:>6} {r['labels']:>6}  {th:<16} {r['source']}")
    return 0


def _task_args(a: argparse.Namespace, params) -> tuple[list[str], dict[str, Any], str]:
    """(methods, type-checked settings, device) for the --task lt / dir runs."""
    from .config import resolve
    from .device import resolve as resolve_device

    settings: dict[str, Any] = dict(parse_sets(a.sets))
    if a.epochs is not None:
        settings["epochs"] = a.epochs
    resolve(params, settings)
    return [m.strip() for m in a.method.split(",") if m.strip()], settings, resolve_device(a.device).type


def _write_csv(path: str, cols: Sequence[str], rows: list[dict[str, Any]]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(cols), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()})


def _cmd_run_lt(a: argparse.Namespace) -> int:
    import pandas as pd

    from . import longtail as LT

    methods, settings, device = _task_args(a, LT.PARAMS)
    priors = a.test_priors or ["uniform"]
    for p in priors:  # check the prior specs before training
        LT.test_prior(p, 10)
    rows = LT.run(a.dataset, methods, imbalance=a.imbalance, test_priors=priors, seeds=a.seeds, settings=settings,
                  device=device)
    cols = ["method", "seed", "test_prior", "acc", "acc_many", "acc_medium", "acc_few", "seconds"]
    _write_csv(a.out, cols, rows)
    print(pd.DataFrame(rows).groupby(["test_prior", "method"], sort=False)[cols[3:]].mean().round(4).to_string())
    return 0


def _cmd_run_dir(a: argparse.Namespace) -> int:
    import pandas as pd

    from . import groupdir as GD

    methods, settings, device = _task_args(a, GD.PARAMS)
    if a.groups < 1:
        raise ValueError("--groups must be ≥ 1")
    ds = GD.load_dir(a.dataset)
    folds = a.folds or 5
    bar = None
    if not a.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(methods) * (len(a.only_folds.split(",")) if a.only_folds else folds), unit="fold",
                   file=sys.stderr)
    rows = GD.run(ds, methods, n_groups=a.groups, folds=folds, seed=a.seed, settings=settings, device=device,
                  fold_ids=[int(f) for f in a.only_folds.split(",")] if a.only_folds else None,
                  on_fold=(lambda out: bar.update(1)) if bar else None)
    if bar is not None:
        bar.close()
    _write_csv(a.out, GD.COLUMNS, rows)
    print(pd.DataFrame(rows).groupby("method", sort=False)[list(GD.COLUMNS[2:])].mean().round(3).to_string())
    return 0


def _cmd_run(a: argparse.Namespace) -> int:
    if a.task == "ldl":
        a.folds = a.folds or 10
    if a.task == "lt":
        return _cmd_run_lt(a)
    if a.task == "dir":
        return _cmd_run_dir(a)
    methods = [m for m in a.method.split(",") if m.strip()]
    label_cols = a.label_columns.split(",") if a.label_columns else None
    ds = D.load(a.dataset, label_columns=label_cols)
    for w in ds.warnings:
        print(f"warning: {w}", file=sys.stderr)
    thresholds = None
    if a.thresholds:
        try:
            thresholds = tuple(float(v) for v in a.thresholds.split(","))
        except ValueError:
            raise D.DataError(f"--thresholds expects four numbers a,b,c,d, got {a.thresholds!r}") from None
    settings = _settings(methods, parse_sets(a.sets), a.epochs)
    fold_ids = [int(f) for f in a.only_folds.split(",")] if a.only_folds else None
    n_folds = len(fold_ids) if fold_ids else a.folds
    total = n_folds * sum(method_config(parse(m), settings.get(parse(m).name)).get("epochs", 0) for m in methods)
    bar = None
    if not a.quiet and total:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="epoch", file=sys.stderr, dynamic_ncols=True)
    ev_fh = open(a.events, "w", encoding="utf-8") if a.events else None

    def emit(ev: dict) -> None:
        if ev_fh is not None:
            ev_fh.write(dumps(ev) + "\n")
        if bar is not None and ev["type"] == "epoch":
            bar.update(1)
            bar.set_postfix_str(f"{ev['method']} fold {ev['fold']}")

    try:
        rows = run_experiment(ds, methods, protocol=a.protocol, folds=a.folds, seed=a.seed, thresholds=thresholds,
                              settings=settings, device=a.device, emit=emit, scaling=a.scaling, fold_ids=fold_ids,
                              select=a.select, diagnostic=a.diagnostic)
    finally:
        if bar is not None:
            bar.close()
        if ev_fh is not None:
            ev_fh.close()
    for r in rows:
        ov = settings.get(r["method"], {})
        r["settings"] = ";".join(f"{k}={v}" for k, v in sorted(ov.items()))
    Path(a.out).write_text(rows_to_csv(rows), encoding="utf-8")
    _print_summary(rows)
    return 0


def _print_summary(rows: list[dict]) -> None:
    s = summarise(rows)
    show = ("chebyshev", "clark", "canberra", "kl", "cosine", "intersection")
    print(f"{'method':<16}" + "".join(f"{m:>17}" for m in show) + f"{'seconds':>10}")
    for m, v in s.items():
        print(f"{m:<16}" + "".join(f"{v[k][0]:>9.4f} ±{v[k][1]:.4f}" for k in show) + f"{v['seconds'][0]:>10.2f}")
    if "uniform" in s:
        u = s["uniform"]["chebyshev"][0]
        for m, v in s.items():
            if m not in ("uniform", "test_mean") and v["chebyshev"][0] >= u:
                print(f"note: {m} does not beat the uniform predictor on Chebyshev "
                      f"({v['chebyshev'][0]:.4f} ≥ {u:.4f})")


def _thresholds(text: str | None):
    if not text:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise D.DataError(f"--thresholds expects four numbers a,b,c,d, got {text!r}") from None


def _cmd_ablate(a: argparse.Namespace) -> int:
    import time

    from . import studies

    st = studies.get(a.study)
    ds = studies.load_for(a.study, a.dataset)
    overrides = dict(parse_sets(a.sets))
    if a.epochs is not None:
        overrides["epochs"] = a.epochs
    studies.study_configs(st, overrides)  # type-check before training
    a.folds = a.folds or {"ldl": 10, "dir": 5, "lt": 3}[st.task]
    ev_fh = open(a.events, "w", encoding="utf-8") if a.events else None
    t0 = time.perf_counter()
    try:
        rows = studies.run_study(a.study, ds, protocol=a.protocol, folds=a.folds, seed=a.seed,
                                 thresholds=_thresholds(a.thresholds),
                                 fold_ids=[int(f) for f in a.only_folds.split(",")] if a.only_folds else None,
                                 overrides=overrides, batched=not a.sequential, device=a.device,
                                 emit=(lambda e: ev_fh.write(dumps(e) + "\n")) if ev_fh else (lambda e: None),
                                 step_events=ev_fh is not None, select=a.select)
    finally:
        if ev_fh is not None:
            ev_fh.close()
    cols = ["study", "config", "fold", *(["select"] if st.task == "ldl" else []),
            *(METRICS if st.task == "ldl" else st.metrics), "seconds"]
    _write_csv(a.out, cols, [r for r in rows if a.with_constants or r["config"] not in studies.CONSTANTS])
    print(studies.markdown_table(studies.table(rows, a.study, ds if isinstance(ds, str) else ds.name)))
    mode = "batched" if not a.sequential and st.method == "amema" else "model by model"
    print(f"{len(rows)} rows in {time.perf_counter() - t0:.1f} s ({mode}); "
          "• / ◦: the full configuration is significantly better / worse (paired t-test, p < 0.05); "
          "[published] where the paper gives it")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    try:
        if a.cmd == "datasets":
            return _cmd_datasets()
        if a.cmd == "ablate":
            return _cmd_ablate(a)
        return _cmd_run(a)
    except (D.DataError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
