"""The reference side of bench/parity_classic.py — run by *another* Python (a scratch environment with PyLDL),
never imported by the project. It reads the folds, our initial weights and our k-means labels from an .npz
and writes the reference implementations' test predictions:

  PyLDL (pip python-ldl, GitHub SpriteMisaka/PyLDL): SA_BFGS, LDLSF, LDL_LCLR, LDL_SCL
  the authors' code (GitHub wangjing4research/LDL-LDM, its EDL_LRL.py and LDLLDM.py), from --ref-dir

The random parts are given the same values as ours (initial weights through numpy's random draw, k-means labels
or centres through a stand-in for scikit-learn's KMeans), so that the comparison is between the learners.
    usage: python _reference_classic.py IN.npz OUT.npz REF_DIR
"""
import importlib.util
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
import numpy as np  # noqa: E402


class FixedKMeans:
    """Stands in for sklearn.cluster.KMeans: returns the labels (and centres) it is given."""
    labels = None
    centres = None

    def __init__(self, *a, **k):
        pass

    def fit(self, X, *a, **k):
        self.labels_ = FixedKMeans.labels
        self.cluster_centers_ = FixedKMeans.centres
        return self

    def fit_predict(self, X, *a, **k):
        return FixedKMeans.labels

    def predict(self, X, *a, **k):
        return FixedKMeans.labels


class Draw:
    """np.random.random / np.random.rand returning a given array once."""

    def __init__(self, value):
        self.value = value

    def __call__(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], tuple):
            shape = shape[0]
        assert tuple(shape) == self.value.shape, (shape, self.value.shape)
        return self.value.copy()


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    import argparse

    ap = argparse.ArgumentParser(description="reference side of bench/parity_classic.py (runs in a scratch env)")
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("ref_dir")
    a = ap.parse_args()
    src, dst, ref_dir = a.src, a.dst, a.ref_dir
    z = np.load(src)
    out = {}
    import pyldl.algorithms._ldl_lclr as lclr_mod
    import pyldl.algorithms._ldl_scl as scl_mod
    from pyldl.algorithms import LDL_LCLR, LDL_SCL, LDLSF, SA_BFGS
    lclr_mod.KMeans = FixedKMeans
    scl_mod.KMeans = FixedKMeans
    sys.path.insert(0, ref_dir)
    edl = load_module(os.path.join(ref_dir, "EDL_LRL.py"), "ref_edl_lrl")
    edl.KMeans = FixedKMeans
    ldm = load_module(os.path.join(ref_dir, "LDLLDM.py"), "ref_ldlldm")
    import scipy.linalg as sl
    ldm.solve = lambda a, b, sym_pos=False, **k: sl.solve(a, b, assume_a="pos" if sym_pos else "gen")

    folds = sorted({int(k.split("_")[0][4:]) for k in z.files if k.startswith("fold")})
    for f in folds:
        def g(k, f=f):
            return z[f"fold{f}_{k}"]
        X, D, Xt = g("x"), g("y"), g("xt")
        real = np.random.random
        np.random.random = Draw(g("sa-bfgs_W"))
        out[f"fold{f}_sa-bfgs"] = SA_BFGS().fit(X, D).predict(Xt)
        np.random.random = real
        out[f"fold{f}_ldlsf"] = LDLSF().fit(X, D).predict(Xt)
        FixedKMeans.labels = g("ldl-lclr_labels")
        out[f"fold{f}_ldl-lclr"] = LDL_LCLR().fit(X, D).predict(Xt)

        theta0, W0, c0 = g("adam-ldl-scl_theta"), g("adam-ldl-scl_W"), g("adam-ldl-scl_codes")
        FixedKMeans.centres = g("adam-ldl-scl_centres")

        class SCL(LDL_SCL):
            start = (theta0, W0, c0)

            def train(self, *a, **k):
                t, w, c = self.start
                self._model.layers[0].kernel.assign(t.astype("float32"))
                self._W.assign(w.astype("float32"))
                self._C.assign(c.astype("float32"))
                return super().train(*a, **k)

        out[f"fold{f}_adam-ldl-scl"] = np.asarray(SCL().fit(X, D, epochs=int(z["scl_epochs"])).predict(Xt))

        real_rand = np.random.rand
        np.random.rand = Draw(g("edl-lrl_W"))
        FixedKMeans.labels = g("edl-lrl_labels")
        out[f"fold{f}_edl-lrl"] = edl.EDL_LRL(X, Xt, D, None)[0]
        np.random.rand = real_rand
        m = ldm.LDLLDM_Full(X, D, 1e-3, 1.0, 1.0, g=10, clu_labels=g("ldl-ldm_labels"))
        m.solve(300)
        out[f"fold{f}_ldl-ldm"] = m.predict(Xt)
        print(f"reference fold {f} done", flush=True)
    np.savez(dst, **out)


if __name__ == "__main__":
    main()
