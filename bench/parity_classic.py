"""The classic LDL learners against their reference implementations on Movie, ILDL folds 0 and 1.

    python bench/parity_classic.py [--python /tmp/pyldl-env/bin/python] [--ref-dir DIR]

References (not part of this project; run by a second Python, `bench/_reference_classic.py`):
  - PyLDL (pip `python-ldl`, GitHub SpriteMisaka/PyLDL) for sa-bfgs (SA_BFGS), ldlsf (LDLSF), ldl-lclr
    (LDL_LCLR) and adam-ldl-scl (LDL_SCL);
  - the authors' code, GitHub wangjing4research/LDL-LDM (EDL_LRL.py, LDLLDM.py), for edl-lrl and ldl-ldm.
Set the scratch environment up once (it pulls keras, numba, … — never a dependency of the project):
    python -m venv /tmp/pyldl-env && /tmp/pyldl-env/bin/pip install torch==2.13.0 python-ldl
and give the LDL-LDM repository's directory with --ref-dir (or $LDL_LDM_DIR).

Both sides get the same training rows (the ILDL training part, validation rows held out as always), the same
scaled features, the same initial weights and the same k-means clusters (ours, handed over), and are scored on
the same test fold; ours keeps its last iterate (the references have no model selection). Per learner and fold
it prints the test Chebyshev and KL of both; the last line is `max gap N`: the largest |Δ Chebyshev| over the
learners PyLDL implements (the authors'-code gaps are printed above it, on their own line).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ildl import metrics
from ildl.data import load
from ildl.engine import Trainer
from ildl.methods import REGISTRY, Batch
from ildl.stack import Rows, pad
from ildl.tasks import get

PYLDL = ("sa-bfgs", "ldlsf", "ldl-lclr", "adam-ldl-scl")
AUTHORS = ("edl-lrl", "ldl-ldm")


def ours(name: str, folds) -> tuple[list[np.ndarray], dict[str, np.ndarray], float]:
    """Train `name` on the folds as one stack (the engine's Trainer, its defaults); test predictions per fold and
    what the reference needs to start from the same point."""
    entry = REGISTRY[name]
    cfg = entry.config({})
    dims = {"d": folds[0].x["train"].shape[1], "C": folds[0].y["train"]["y"].shape[1],
            "n": max(f.n("train") for f in folds)}
    t0 = time.perf_counter()
    tr = Trainer(entry.cls, [cfg] * len(folds), [f.stats for f in folds], dims, [f.id for f in folds])
    init = {k: v.detach().clone() for k, v in tr.P.items()}
    rows = Rows([f.x["train"] for f in folds], torch.device("cpu"), sparse=False)
    x, mask = rows.all()
    y = pad([f.y["train"]["y"] for f in folds], torch.device("cpu"))
    b = Batch(x=x, y={"y": y}, mask=mask)
    for _ in range(cfg["epochs"]):
        tr.step(b)
    te = Rows([f.x["test"] for f in folds], torch.device("cpu"), sparse=False)
    out = tr.predict(te.all()[0]).numpy()
    seconds = time.perf_counter() - t0
    extra = {}
    for i, f in enumerate(folds):
        n = f.n("train")
        for k, v in init.items():
            extra[f"fold{f.id}_{name}_{k}"] = v[i, :n].numpy() if k == "codes" else v[i].numpy()
        if hasattr(tr.method, "cluster_labels"):
            extra[f"fold{f.id}_{name}_labels"] = tr.method.cluster_labels[i, :n].numpy()
            extra[f"fold{f.id}_{name}_centres"] = tr.method.cluster_centres[i].numpy()
    return [out[i, :f.n("test")] for i, f in enumerate(folds)], extra, seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=os.environ.get("PYLDL_PYTHON", "/tmp/pyldl-env/bin/python"))
    ap.add_argument("--ref-dir", default=os.environ.get("LDL_LDM_DIR", ""),
                    help="a checkout of wangjing4research/LDL-LDM")
    a = ap.parse_args(argv)
    if not Path(a.python).exists():
        print(f"no scratch Python at {a.python}: see this file's docstring to make one", file=sys.stderr)
        return 2
    if not a.ref_dir or not (Path(a.ref_dir) / "EDL_LRL.py").exists():
        print("--ref-dir must name a checkout of wangjing4research/LDL-LDM (EDL_LRL.py, LDLLDM.py)", file=sys.stderr)
        return 2
    ds, task = load("Movie"), get("ldl")
    folds = task.folds(ds, dict(folds=10, seed=0), task.resolve_options({}))[:2]
    preds, blob, secs = {}, {"scl_epochs": np.array(REGISTRY["adam-ldl-scl"].config({})["epochs"])}, {}
    for f in folds:
        blob.update({f"fold{f.id}_x": f.x["train"].astype(np.float64), f"fold{f.id}_y": f.y["train"]["y"],
                     f"fold{f.id}_xt": f.x["test"].astype(np.float64)})
    for name in PYLDL + AUTHORS:
        preds[name], extra, secs[name] = ours(name, folds)
        blob.update(extra)
        print(f"ours {name}: {secs[name]:.1f} s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, **blob)
        t0 = time.perf_counter()
        subprocess.run([a.python, str(Path(__file__).with_name("_reference_classic.py")), str(src), str(dst),
                        a.ref_dir], check=True)
        print(f"references: {time.perf_counter() - t0:.0f} s")
        ref = dict(np.load(dst))
    print(f"\nMovie, ILDL folds 0–1, test fold scores (last iterate)\n{'learner':<14}{'fold':>5}{'Cheb ours':>11}"
          f"{'ref':>8}{'|Δ|':>8}{'KL ours':>10}{'ref':>8}{'|Δ|':>8}   reference")
    gaps: dict[str, list[float]] = {}
    for name in PYLDL + AUTHORS:
        for i, f in enumerate(folds):
            yt = f.ctx["y_test"]
            mo, mr = metrics.evaluate(yt, preds[name][i]), metrics.evaluate(yt, ref[f"fold{f.id}_{name}"])
            g = abs(mo["chebyshev"] - mr["chebyshev"])
            gaps.setdefault(name, []).append(g)
            print(f"{name:<14}{f.id:>5}{mo['chebyshev']:>11.4f}{mr['chebyshev']:>8.4f}{g:>8.4f}{mo['kl']:>10.4f}"
                  f"{mr['kl']:>8.4f}{abs(mo['kl'] - mr['kl']):>8.4f}   {'PyLDL' if name in PYLDL else 'authors'}")
    print(f"authors' code (edl-lrl, ldl-ldm): max gap {max(max(gaps[n]) for n in AUTHORS):.4f}")
    print(f"max gap {max(max(gaps[n]) for n in PYLDL):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
