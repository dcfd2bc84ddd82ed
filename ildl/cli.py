"""Command line: `python -m ildl datasets | methods | run | ablate` (see README).

Every argument is checked before any training (a bad value, an unwritable --out, a fold that does not exist:
one `error:` line, exit 2). Runs are saved like the app's (`runs/<id>/`, or $ILDL_RUNS_DIR), so a CLI run
opens in the app's Compare page; `--no-save` skips that.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from . import data as D
from . import report, runner, studies
from .config import parse_sets
from .methods import REGISTRY, parse
from .metrics import CONSTANT_PREDICTORS, SIX
from .runs import STUDY_COLUMNS, RunStore, dumps, rows_to_csv
from .session import RunSession
from .tasks import TASKS
from .tasks import get as get_task


class _Parser(argparse.ArgumentParser):
    """A bad argument is one `error:` line (and the help command), not a page of usage."""

    def error(self, message: str):  # type: ignore[override]
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m ildl", description="Imbalanced label-distribution learning lab")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("datasets", help="list the bundled datasets")
    d.add_argument("--task", choices=list(TASKS))
    m = sub.add_parser("methods", help="list the methods of each task with their parameters")
    m.add_argument("--task", choices=list(TASKS))

    def common(a: argparse.ArgumentParser) -> None:
        a.add_argument("--dataset", required=True, help="ldl: bundled name, 'synthetic', or a .mat/.npz/.csv path; "
                       "dir: FG-Net | synthetic-dir | a path with an 'age'/'target' array; lt: digits-lt | synthetic-lt")
        for t in TASKS.values():  # each task's options, from their one declaration (ildl/tasks)
            for p in t.options:
                kind = {"int": int, "float": float}.get(p.kind, str)
                a.add_argument(f"--{p.name.replace('_', '-')}", dest=p.name, type=kind, choices=list(p.choices) or None,
                               help=f"{t.name}: {p.help} (default {p.default})")
        a.add_argument("--thresholds", help="ldl, ILDL filter a,b,c,d (built in for the papers' benchmarks)")
        a.add_argument("--test-prior", action="append", dest="test_priors", metavar="PRIOR",
                       help="lt, repeatable: uniform | forwardR | backwardR | C comma-separated numbers")
        a.add_argument("--folds", type=int, help="number of folds (lt: seeds); default per task (ldl 10, dir 5, lt 3)")
        a.add_argument("--seeds", type=int, dest="folds", help="lt: the number of seeds (= --folds)")
        a.add_argument("--only-folds", help="run only these fold ids, e.g. 0,1")
        a.add_argument("--epochs", type=int, help="override every method's epochs")
        a.add_argument("--seed", type=int, default=0, help="KFold random_state and model seed (0 = the papers')")
        a.add_argument("--device", default="auto", help="auto | cpu | cuda")
        a.add_argument("--set", action="append", dest="sets", metavar="KEY=VALUE",
                       help="method option, repeatable; 'amema.weig=false' targets one method")
        a.add_argument("--select", default=None, help="ldl model selection: val_kl_balanced (default), val_kl, last, "
                       "a comma-separated list (one CSV row per rule, the first is primary) or all")
        a.add_argument("--sequential", action="store_true", help="train model by model instead of stacked")
        a.add_argument("--events", help="also write every event as a JSON line to this file")
        a.add_argument("--out", required=True, help="CSV with one row per (method, fold[, rule, test prior])")
        a.add_argument("--no-save", action="store_true", help="do not keep the run under runs/ (or $ILDL_RUNS_DIR)")
        a.add_argument("--quiet", action="store_true", help="no progress output")

    r = sub.add_parser("run", help="train and evaluate methods over the folds of a protocol")
    common(r)
    r.add_argument("--task", default=runner.RUN_DEFAULTS["task"], choices=list(TASKS),
                   help="ldl: label distributions (default); dir: imbalanced regression (Group-DIR); "
                        "lt: long-tailed classification under label shift")
    r.add_argument("--method", required=True, help="comma-separated, e.g. uniform,train_mean,ldl-kl,amema+pc; ldl "
                   "groups: classic, ildl, baselines, constants (e.g. classic,ildl,constants: the papers' Table 1)")
    r.add_argument("--label-columns", help="CSV only: comma-separated label column names")
    r.add_argument("--normalize", action="store_true", help="renormalise label rows that do not sum to 1")
    r.add_argument("--diagnostic", action="store_true",
                   help="record test metrics every epoch as 'diag' events (shown, never used for selection)")
    a = sub.add_parser("ablate", help="run a built-in ablation study (configs × folds)")
    common(a)
    a.add_argument("--study", required=True, choices=list(studies.STUDIES),
                   help="; ".join(f"{s.name}: {s.title}" for s in studies.STUDIES.values()))
    a.add_argument("--with-constants", action="store_true",
                   help="also write the constant predictors' rows to the CSV (they are always in the printed table)")
    t = sub.add_parser("table", help="a paper table (Markdown or LaTeX) from a results CSV written by run --out")
    t.add_argument("csv", help="results CSV (python -m ildl run … --out r.csv)")
    t.add_argument("--latex", action="store_true", help="LaTeX (booktabs) instead of Markdown")
    t.add_argument("--reference", help="the row the •/◦ paired t-test marks compare against (default: the trained "
                                       "row with the lowest mean of the first metric)")
    t.add_argument("--metrics", default=",".join(SIX), help="comma-separated metric columns (default: the six)")
    t.add_argument("--dataset", help="dataset name whose published figures go in brackets (e.g. Movie)")
    t.add_argument("--select", help="keep only this model-selection rule's rows (constants are kept)")
    return p


def _settings(methods: Sequence[str], task: str, sets: dict[str, str], epochs: int | None) -> dict[str, dict]:
    """Route each --set key to the methods that declare it; unknown everywhere is an error."""
    specs = [parse(m, task) for m in methods]
    out: dict[str, dict[str, Any]] = {s.name: {} for s in specs if not s.constant}
    for key, val in sets.items():
        target, _, pname = key.rpartition(".")
        hits = [s for s in specs if not s.constant and (not target or target in (s.name, s.base))
                and pname in {p.name for p in s.entry.schema()}]
        if not hits:
            raise ValueError(f"--set {key}: no chosen method has a parameter '{pname}'")
        meanings = {next(p.help for p in s.entry.schema() if p.name == pname) for s in hits}
        if not target and len(meanings) > 1:  # e.g. gamma: RDA's focal exponent, DILDL's align4 weight
            raise ValueError(f"--set {key} is ambiguous: '{pname}' means different things in "
                             f"{', '.join(s.name for s in hits)}; write " + " or ".join(f"{s.base}.{pname}=…" for s in hits))
        for s in hits:
            out[s.name][pname] = val
    if epochs is not None:
        for name in out:
            out[name]["epochs"] = epochs
    return out


CLI_OWNER = "cli"  # runs made here are read-only to the app's visitors (unless ILDL_OPEN_CONTROL=1)


def _writable(path: str | None, what: str) -> None:
    """Fail now, not after hours of training, if `path` cannot be written: try opening it for appending
    (permission bits alone say nothing to root), and leave no file behind."""
    if path is None:
        return
    if not str(path).strip():
        raise ValueError(f"{what}: give a file name")
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{what} {path}: is a directory")
    if p.exists() and not p.is_file():  # /dev/full, a FIFO (opening it would wait for a reader), a socket
        raise ValueError(f"{what} {path}: not a regular file")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{what} {path}: folder {parent} does not exist")
    existed = p.exists()
    try:
        with open(p, "a", encoding="utf-8"):
            pass
    except OSError as e:
        raise ValueError(f"{what} {path}: not writable ({e.strerror or type(e).__name__})") from None
    if not existed:
        p.unlink(missing_ok=True)


def _folds(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        ids = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--only-folds expects whole numbers like 0,1, got {text!r}") from None
    if not ids:
        raise ValueError("--only-folds names no fold")
    return ids


def _config(a: argparse.Namespace) -> dict[str, Any]:
    study = getattr(a, "study", None)
    task = studies.get(study).task if study else a.task
    cfg: dict[str, Any] = dict(task=task, dataset=a.dataset, seed=a.seed, device=a.device, select=a.select,
                               fold_ids=_folds(a.only_folds), batched=not a.sequential)
    if a.folds is not None:
        cfg["folds"] = a.folds
    for p in get_task(task).options:  # given ones only: the task's declaration holds the defaults
        if getattr(a, p.name, None) is not None:
            cfg[p.name] = getattr(a, p.name)
    given = {("--thresholds", "thresholds"): a.thresholds or None, ("--test-prior", "test_priors"): a.test_priors}
    for (flag, name), value in given.items():
        if value is None:
            continue
        if name not in get_task(task).run_fields:
            users = [t.name for t in TASKS.values() if name in t.run_fields]
            raise ValueError(f"{flag} applies to {' / '.join(users)} runs, not {task}")
        cfg[name] = list(D.parse_thresholds(value)) if name == "thresholds" else value
    sets = parse_sets(a.sets)
    if study:
        st = studies.get(study)
        shared = dict(sets)
        if a.epochs is not None:
            shared["epochs"] = a.epochs
        cfg.update(study=study, settings={"*": shared} if shared else {})
        cfg.update(st.run)  # what the study fixes (lt: its test priors)
    else:
        methods = get_task(task).expand([m.strip() for m in a.method.split(",") if m.strip()])
        if not methods:
            raise ValueError("--method names no method")
        cfg.update(methods=methods, settings=_settings(methods, task, sets, a.epochs),
                   diagnostic=getattr(a, "diagnostic", False))
    return cfg


class Progress:
    """A tqdm bar on a terminal; elsewhere (a log file, CI) one line per finished model."""

    def __init__(self, total_epochs: int, quiet: bool):
        self.quiet = quiet
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total_epochs, unit="epoch", file=sys.stderr, dynamic_ncols=True)

    def event(self, ev: dict[str, Any]) -> None:
        if self.quiet:
            return
        if self.bar is not None and ev["type"] == "epoch":
            self.bar.update(1)
            self.bar.set_postfix_str(f"{ev.get('config') or ev['method']} fold {ev['fold']}")
        elif self.bar is None and ev["type"] == "fold" and not ev["stopped"] and ev.get("seconds"):
            m = ev["metrics"]
            key = next((k for k in ("chebyshev", "mae", "acc") if m.get(k) is not None), None)
            print(f"{ev.get('config') or ev['method']} fold {ev['fold']}: "
                  + (f"{key} {m[key]:.4f}, " if key else "") + f"{ev['seconds']:.1f} s", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _execute(a: argparse.Namespace, cfg: dict[str, Any], data: Any) -> tuple[list[dict], str | None, float]:
    """Plan, check outputs, train with progress through the app's run lifecycle; (rows, run id, seconds)."""
    cfg = runner.resolve(cfg)
    task, jobs = runner.plan(cfg, data)  # folds and every parameter checked here, before training
    if not jobs:
        raise ValueError("nothing to run: no (method, fold) left after --only-folds")
    _writable(a.out, "--out")
    _writable(a.events, "--events")
    total = sum(j.cfg["epochs"] for j in jobs if not j.spec.constant)
    prog = Progress(total, a.quiet)
    ev_fh = open(a.events, "w", encoding="utf-8") if a.events else None
    sinks = [prog.event, *([lambda ev: ev_fh.write(dumps(ev) + "\n")] if ev_fh is not None else [])]
    t0 = time.perf_counter()
    try:
        s = RunSession(None if a.no_save else RunStore(), cfg, owner=CLI_OWNER, total_epochs=total, sinks=sinks)
        s.execute(task, jobs)
    finally:
        prog.close()
        if ev_fh is not None:
            ev_fh.close()
    if s.exception is not None:
        raise s.exception
    if s.status != "done":  # the run trained but could not be saved (the session says why)
        raise OSError(s.error or s.status)
    return s.rows, s.id, time.perf_counter() - t0


def _cmd_run(a: argparse.Namespace) -> int:
    cfg = _config(a)
    task = get_task(cfg["task"])
    kw = {k: v for k, v in dict(label_columns=a.label_columns.split(",") if a.label_columns else None,
                                normalize=a.normalize or None).items() if v is not None}
    wrong = [k for k in kw if k not in task.load_options]
    if wrong:
        raise ValueError(f"--{wrong[0].replace('_', '-')} applies to files of label distributions (task ldl), "
                         f"not to task {task.name}")
    data = task.load(a.dataset, **kw)
    for w in getattr(data, "warnings", ()):
        print(f"warning: {w}", file=sys.stderr)
    rows, run_id, secs = _execute(a, cfg, data)
    for r in rows:
        ov = (cfg.get("settings") or {}).get(r["method"], {})
        r["settings"] = ";".join(f"{k}={v}" for k, v in sorted(ov.items()))
    cols = list(task.columns) + ["settings"]
    Path(a.out).write_text(rows_to_csv(rows, cols), encoding="utf-8")
    _print_summary(rows, task, getattr(data, "name", None))
    print(f"{len(rows)} rows in {secs:.1f} s" + (f"; saved as run {run_id}" if run_id else ""))
    return 0


def _print_summary(rows: list[dict], task, dataset: str | None = None) -> None:
    import pandas as pd

    if not rows:
        print("no finished rows")
        return
    df = pd.DataFrame(rows)
    keys = ["method", *[k for k in task.row_keys if k in df], *(["select"] if df["select"].nunique() > 1 else [])]
    show = [m for m in task.table_metrics if m in df]
    g = df.groupby(keys, sort=False)[show]
    mean, std = g.mean(), g.std(ddof=0).fillna(0.0)
    out = mean.round(4).astype(str) + " ±" + std.round(4).astype(str)
    print(out.to_string())
    if task.grouped_table:
        t = report.table([r for r in rows if r.get("select") == rows[0].get("select")], dataset=dataset)
        if not t.empty and t["group"].nunique() > 2:  # the papers' layout needs several groups
            print("\nGrouped as the papers' Table 1 (published ILDL figures in brackets):")
            print(report.markdown(t))
    for line in report.verdicts(rows, task.name):
        print(line)


def _cmd_ablate(a: argparse.Namespace) -> int:
    st = studies.get(a.study)
    task = get_task(st.task)
    data = task.load(a.dataset)
    cfg = _config(a)
    rows, run_id, secs = _execute(a, cfg, data)
    cols = [*STUDY_COLUMNS, *task.columns]
    keep = [r for r in rows if a.with_constants or r["config"] not in task.constant_methods]
    Path(a.out).write_text(rows_to_csv(keep, cols), encoding="utf-8")
    print(report.study_markdown(report.study_table(rows, a.study, a.dataset)))
    print(f"{len(rows)} rows in {secs:.1f} s ({'stacked' if not a.sequential else 'model by model'})"
          + (f"; saved as run {run_id}" if run_id else "")
          + "; • / ◦: the full configuration is significantly better / worse (paired t-test, p < 0.05); "
            "[published] where the paper gives it")
    return 0


def _cmd_datasets(a: argparse.Namespace) -> int:
    for t in ([a.task] if a.task else list(TASKS)):
        task = get_task(t)
        print(f"# {t}: {task.title}")
        for line in task.catalogue():
            print(line)
    return 0


def _cmd_methods(a: argparse.Namespace) -> int:
    for name, e in REGISTRY.items():
        if a.task and e.task != a.task:
            continue
        family = {"classic": " · classic LDL", "ildl": " · ILDL"}.get(e.cls.family, "")
        print(f"{name:<18} [{e.task}{family}] {e.title}")
        print(f"    {e.paper}")
        print("    " + ", ".join(f"{p.name}={p.default}" for p in e.schema()))
    for t in TASKS.values():
        if t.method_groups and a.task in (None, t.name):
            print(f"\ngroups for --method ({t.name}): " + "; ".join(f"{g} = {w}" for g, w in t.method_groups.items()))
        if t.recommended and a.task in (None, t.name):
            print(f"\nto start with ({t.name}): {t.recommended}")
            for line in t.advice:
                print(f"  {line}")
    return 0


def _cmd_table(a: argparse.Namespace) -> int:
    import pandas as pd

    path = Path(a.csv)
    if not path.is_file():
        raise ValueError(f"{a.csv}: no such file")
    if path.stat().st_size > 50 * 2**20:
        raise ValueError(f"{a.csv}: larger than 50 MB — not a results CSV")
    try:
        df = pd.read_csv(path)
    except Exception as e:  # noqa: BLE001 — any parse failure is the user's file, said in one line
        raise ValueError(f"{a.csv}: not a CSV ({type(e).__name__})") from None
    if "method" not in df or "fold" not in df:
        raise ValueError(f"{a.csv}: needs 'method' and 'fold' columns (write it with python -m ildl run … --out)")
    metrics = [m.strip() for m in a.metrics.split(",") if m.strip()]
    missing = [m for m in metrics if m not in df]
    if missing:
        raise ValueError(f"{a.csv}: no column(s) {missing}; it has {[c for c in df.columns if c not in ('method', 'fold')]}")
    if a.select:
        df = df[df.get("select", pd.Series("-", index=df.index)).fillna("-").isin([a.select, "-"])]
    rows = df.to_dict("records")
    names = list(dict.fromkeys(df["method"]))
    trained = [n for n in names if n not in CONSTANT_PREDICTORS]
    if a.reference and a.reference not in names:
        raise ValueError(f"--reference {a.reference!r} is not a method of {a.csv} ({', '.join(names)})")
    ref = a.reference or (min(trained, key=lambda n: df[df["method"] == n][metrics[0]].mean()) if trained else None)
    t = report.table(rows, reference=ref, metrics=metrics, dataset=a.dataset)
    caption = (f"{a.dataset or 'dataset'}: mean ± std over folds; •/◦: {ref} significantly better/worse "
               "(paired t-test, p < 0.05); [published]")
    print(report.latex(t, caption) if a.latex else report.markdown(t))
    for line in report.verdict(t, ref) if ref else []:
        print(("% " if a.latex else "") + line.replace("**", ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    try:
        return {"datasets": _cmd_datasets, "methods": _cmd_methods, "run": _cmd_run, "ablate": _cmd_ablate,
                "table": _cmd_table}[a.cmd](a)
    except BrokenPipeError:  # the reader went away (`… | head`): not an error of ours, and nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (D.DataError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory — the data or the model is too large for this machine", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
