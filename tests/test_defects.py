"""Issue 20's defects, each with a test that failed before its fix."""
from __future__ import annotations

import numpy as np
import pytest

from ildl import labelshift as LT
from ildl.tasks import get


@pytest.mark.parametrize("kind", ["ce", "la", "bs", "lade", "pc"])
def test_label_shift_diagnostic_uses_each_methods_own_rule(kind):
    """The per-epoch diagnostic scored every method with the PC rule (LA, balanced softmax and LADE then
    subtracted log p_s twice); it must equal the model's own rule under a uniform test prior."""
    task = get("lt")
    data = LT.load_lt("synthetic-lt", 20.0, 0)
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((len(data.y_pool), data.n_classes)) + 3.0 * np.eye(data.n_classes)[data.y_pool]
    fold = type("F", (), {"ctx": {"data": data}})()
    got = task.diag(fold, logits, {"kind": kind})["test_acc_uniform"]
    uniform = np.full(data.n_classes, 1 / data.n_classes)
    scores = logits - np.log(data.prior) if kind == "pc" else logits  # + log(uniform) is a constant shift
    want = float(np.mean([(scores[data.y_pool == c].argmax(1) == c).mean() for c in range(data.n_classes)]))
    assert got == pytest.approx(want)
    assert got == pytest.approx(LT.accuracy_under_prior(kind, logits, data, uniform))


def test_ambiguous_unprefixed_set_is_refused(tmp_path, capsys):
    from ildl.cli import main

    argv = ["run", "--dataset", "synthetic", "--method", "rda,dildl", "--set", "gamma=1", "--out",
            str(tmp_path / "r.csv"), "--no-save", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "ambiguous" in err and "rda.gamma" in err and "dildl.gamma" in err


def test_a_custom_test_prior_is_checked_against_the_data_not_against_ten_classes():
    from ildl.data import DataError
    from ildl.tasks import get

    get("lt").check_run({"test_priors": ["1,2,3"]})  # the spelling is right; the size waits for the data
    with pytest.raises(DataError, match="forward50"):
        get("lt").check_run({"test_priors": ["forwardx"]})
    with pytest.raises(DataError, match="10 non-negative"):  # the data (10 classes) decides, before training
        from ildl import runner

        cfg = runner.resolve(dict(task="lt", dataset="synthetic-lt", methods=["ce"], test_priors=["1,2,3"], folds=1))
        runner.plan(cfg, runner.load_data(cfg))


def test_cli_options_of_another_task_are_refused_not_ignored(tmp_path, capsys):
    from ildl import cli

    out = str(tmp_path / "r.csv")
    assert cli.main(["run", "--task", "dir", "--dataset", "synthetic-dir", "--method", "mse", "--thresholds",
                     "0.1,0.2,0.3,0.4", "--out", out]) == 2
    assert "--thresholds applies to ldl runs, not dir" in capsys.readouterr().err
    assert cli.main(["run", "--task", "lt", "--dataset", "synthetic-lt", "--method", "ce", "--label-columns", "a,b",
                     "--out", out]) == 2
    assert "--label-columns applies to files of label distributions" in capsys.readouterr().err
    assert cli.main(["run", "--dataset", "synthetic", "--method", "ldl-kl", "--test-prior", "uniform",
                     "--out", out]) == 2
    assert "--test-prior applies to lt runs, not ldl" in capsys.readouterr().err
