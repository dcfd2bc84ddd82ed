"""Group-DIR: routing (true group in training, predicted group at test), data, the CLI contract."""
import numpy as np
import pandas as pd
import torch

from helpers import rand, trainer
from ildl import regression as GD
from ildl.cli import main
from ildl.tasks import get


def test_routing_predicted_group_at_test():
    t = trainer("group-ce")
    P = t.P
    with torch.no_grad():  # make the classifier prefer group 2 whatever x, and expert k output 10·(k + 1)
        P["classifier.weight"].zero_()
        P["classifier.bias"].copy_(torch.tensor([[0.0, 0.0, 5.0, 0.0, 0.0]]))
        P["experts.weight"].zero_()
        P["experts.bias"].copy_(torch.tensor([[10.0, 20.0, 30.0, 40.0, 50.0]]))
    out = t.predict(rand(1, 5, 6))
    assert out["g"].tolist() == [[2] * 5] and out["y"].tolist() == [[30.0] * 5]


def test_dir_folds_standardise_targets_and_keep_the_truth_out_of_reach():
    ds = GD.load_dir("synthetic-dir", n=300, seed=1)
    task = get("dir")
    folds = task.folds(ds, dict(folds=5, seed=0), dict(groups=4))
    f = folds[0]
    y_tr = f.y["train"]["y"]
    assert abs(y_tr.mean()) < 1e-5 and abs(y_tr.std() - 1) < 1e-4
    assert set(np.unique(f.y["train"]["g"])) <= set(range(4)) and f.stats["group_prior"].sum() == 1
    assert "y_test" not in f.stats and len(f.ctx["y_test"]) == f.n("test")  # methods see stats, not ctx
    assert sum(fd.n("test") for fd in folds) == ds.n


def test_cli_dir_columns_and_finite_figures(tmp_path):
    out = tmp_path / "dir.csv"
    assert main(["run", "--task", "dir", "--dataset", "synthetic-dir", "--method", "mse,lds,group-ce,group-la,group-soft",
                 "--groups", "5", "--folds", "3", "--epochs", "3", "--out", str(out), "--quiet", "--no-save"]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == [*get("dir").columns, "settings"] and len(df) == 15
    assert np.isfinite(df[["mae", "gm", "mae_many", "gm_many"]].to_numpy()).all()
    assert df.loc[df.method.str.startswith("group"), "group_acc"].notna().all()
    assert df.loc[~df.method.str.startswith("group"), "group_acc"].isna().all()  # empty for non-group methods


def test_the_soft_labels_shown_are_the_ones_the_method_trains_on():
    """The Soft-labels page draws `regression.soft_labels`; Group-DIR trains on `targets()`: one table, per-model β."""
    import torch

    from ildl.methods import REGISTRY
    from ildl.regression import soft_labels

    entry, G, betas = REGISTRY["group-soft"], 7, (0.3, 1.0, 2.5)
    method = entry.cls([entry.config({"beta": b}) for b in betas], [{}] * 3, dict(d=4, G=G), torch.device("cpu"))
    table = method.targets()  # (M, G, G)
    for m, b in enumerate(betas):
        shown = soft_labels(torch.arange(G), G, b)
        assert torch.allclose(table[m].double(), shown, atol=1e-6)
        assert torch.allclose(shown, shown.flip(0).flip(1), atol=1e-12)  # symmetric about the true group
    one_hot = REGISTRY["group-ce"]
    m_ce = one_hot.cls([one_hot.config()], [{}], dict(d=4, G=G), torch.device("cpu"))
    assert torch.equal(m_ce.targets()[0], torch.eye(G))
