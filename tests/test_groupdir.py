"""Group-DIR: the contrastive loss by hand, routing, the CLI contract."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from ildl import groupdir as GD
from ildl.cli import main


def test_group_contrastive_hand_computed():
    z = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    g = torch.tensor([0, 1, 3])
    t = 2.0
    zn = z / z.norm(dim=1, keepdim=True)
    s = torch.exp(zn @ zn.T / t).numpy()
    gn = g.numpy()
    terms = []
    for i in range(3):
        for j in range(3):
            if i == j:
                continue
            den = sum(s[i, k] for k in range(3) if k != i and abs(gn[i] - gn[k]) >= abs(gn[i] - gn[j]))
            terms.append(-math.log(s[i, j] / den))
    assert GD.group_contrastive(z, g, t).item() == pytest.approx(np.mean(terms), rel=1e-5)
    # the farthest-group pair has only itself in the denominator: its term is exactly 0
    assert GD.group_contrastive(z[[0, 2]], g[[0, 2]], t).item() == pytest.approx(0.0, abs=1e-6)


def test_routing_true_group_in_training_predicted_group_at_test():
    torch.manual_seed(0)
    net = GD.GroupDIR(4, 8, 3)
    experts = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert GD.GroupDIR.route(experts, torch.tensor([2, 0])).tolist() == [3.0, 4.0]
    with torch.no_grad():  # make the classifier prefer group 2 whatever x, and expert k output k
        net.classifier.weight.zero_()
        net.classifier.bias.copy_(torch.tensor([0.0, 0.0, 5.0]))
        net.experts.weight.zero_()
        net.experts.bias.copy_(torch.tensor([10.0, 20.0, 30.0]))
    y, g = net.predict(torch.randn(5, 4))
    assert g.tolist() == [2] * 5 and y.tolist() == [30.0] * 5


def test_training_uses_the_true_group_expert(monkeypatch):
    """Every training step routes by the true groups of its batch; evaluation routes by the classifier."""
    ds = GD.load_dir("synthetic-dir", n=300, seed=1)
    y = GD.targets_of(ds)
    calls = []
    real_route = GD.GroupDIR.route
    monkeypatch.setattr(GD.GroupDIR, "route", staticmethod(lambda e, g: calls.append(g.clone()) or real_route(e, g)))
    true_groups = GD.group_of(y[:200], GD.group_edges(y[:200], 4))
    out = GD.fit_fold("group-ce", GD.resolve(GD.PARAMS, {"epochs": 2, "batch_size": 50}), ds.X[:200], y[:200],
                      ds.X[200:], y[200:], n_groups=4, seed=0)
    # per epoch: 4 training batches of 50 (routed by true groups) then 1 evaluation call on the 100 test rows
    train_calls = [c for c in calls if len(c) == 50]
    assert len(train_calls) == 8
    for epoch in (0, 1):
        routed = torch.cat(train_calls[4 * epoch:4 * epoch + 4]).numpy()
        assert np.array_equal(np.sort(routed), np.sort(true_groups))  # exactly the true groups, each sample once
    eval_calls = [c for c in calls if len(c) == 100]
    assert np.array_equal(eval_calls[-1].numpy(), out["g_pred"])  # the predicted groups at test time
    assert 0 <= out["row"]["group_acc"] <= 1


def test_cli_dir_columns_and_finite_figures(tmp_path):
    out = tmp_path / "dir.csv"
    assert main(["run", "--task", "dir", "--dataset", "synthetic-dir", "--method", "mse,lds,group-ce,group-la,group-soft",
                 "--groups", "5", "--folds", "3", "--epochs", "3", "--out", str(out), "--quiet"]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == list(GD.COLUMNS) and len(df) == 15
    assert np.isfinite(df[["mae", "gm", "mae_many", "gm_many"]].to_numpy()).all()
    assert df.loc[df.method.str.startswith("group"), "group_acc"].notna().all()
    assert df.loc[~df.method.str.startswith("group"), "group_acc"].isna().all()  # empty for non-group methods
