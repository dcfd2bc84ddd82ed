"""Stacked optimisers and clipping against PyTorch's own, per model, with per-model hyper-parameters and models
that sit out steps (their folds have fewer batches)."""
from collections import deque

import pytest
import torch

from ildl.optim import SGD, AdamW, Clip
from ildl.stack import Params, col

CPU = torch.device("cpu")
ACTIVE = [[1, 1, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1], [1, 1, 0]] * 4


def nets():
    out = []
    for i in range(3):
        torch.manual_seed(i)
        out.append(torch.nn.ModuleDict({"l": torch.nn.Linear(4, 3)}))
    return out


class RefAdaptiveClip:
    """The RDA reference code's rule, written out: cap at factor × max(last 5 records), record min(norm, 2·max, 1)."""

    def __init__(self, factor):
        self.factor, self.queue = factor, deque([float("inf")], maxlen=5)

    def __call__(self, params):
        largest = max(self.queue)
        total = float(torch.nn.utils.clip_grad_norm_(list(params), largest * self.factor))
        self.queue.append(min(total, largest * 2.0, 1.0))


@pytest.mark.parametrize("kind,clip_rule", [("adamw", "adaptive"), ("adamw", "fixed"), ("sgd", "fixed")])
def test_stacked_optimisers_match_torch_per_model(kind, clip_rule):
    x, y = torch.randn(6, 4, generator=torch.Generator().manual_seed(0)), torch.randn(6, 3)
    ref = nets()
    P = Params.stack(nets(), CPU)
    ps = [P[n] for n in P]
    lrs, factors = [1e-2, 2e-2, 5e-3], [0.5, 0.0, 2.0]
    if kind == "adamw":
        wds = ([0.01, 0.1, 0.0], [0.0, 0.01, 0.5])
        opt = AdamW(ps, col(lrs, CPU), [col(wds[0], CPU), col(wds[1], CPU)], amsgrad=True)
        topts = [torch.optim.AdamW([{"params": [r["l"].weight], "weight_decay": w1},
                                    {"params": [r["l"].bias], "weight_decay": w2}], lr=lr, amsgrad=True)
                 for r, lr, w1, w2 in zip(ref, lrs, *wds)]
    else:
        moms, wds = [0.9, 0.5, 0.0], [0.0, 0.01, 0.1]
        opt = SGD(ps, col(lrs, CPU), col(moms, CPU), col(wds, CPU))
        topts = [torch.optim.SGD(r.parameters(), lr=lr, momentum=m, weight_decay=w)
                 for r, lr, m, w in zip(ref, lrs, moms, wds)]
    clip = Clip(col(factors, CPU), clip_rule)
    refclips = [RefAdaptiveClip(f) for f in factors]
    for a in ACTIVE:
        active = torch.tensor(a, dtype=torch.bool)
        out = torch.baddbmm(P["l.bias"][:, None], x.expand(3, 6, 4), P["l.weight"])
        loss = ((out - y) ** 2).mean((1, 2)) * 5
        g = list(torch.autograd.grad((loss * active).sum(), ps))
        opt.step(g, active, clip(g, active))
        for i, (r, o) in enumerate(zip(ref, topts)):
            if not a[i]:
                continue
            o.zero_grad()
            ((r["l"](x) - y) ** 2).mean().mul(5).backward()
            if factors[i] > 0:
                if clip_rule == "adaptive":
                    refclips[i](r.parameters())
                else:
                    torch.nn.utils.clip_grad_norm_(r.parameters(), factors[i])
            o.step()
    for i in range(3):
        assert torch.allclose(P["l.weight"][i], ref[i]["l"].weight.T, atol=1e-5)
        assert torch.allclose(P["l.bias"][i], ref[i]["l"].bias, atol=1e-5)


def test_sgd_lazy_rows_equal_dense_steps_with_zero_rows():
    """Heavy-ball SGD on a weight whose gradient touches a few rows: the lazy update (only the touched rows now, the
    others when read) equals the dense update, with momenta that change every step (0 included) and a model that
    sits steps out."""
    from ildl.optim import SGD, RowGrad

    torch.manual_seed(0)
    M, d, h = 3, 12, 4
    p0 = torch.randn(M, d, h)
    dense = SGD([p0.clone()], torch.tensor([0.1, 0.05, 0.2]), torch.zeros(M), torch.zeros(M))
    lazy = SGD([p0.clone()], torch.tensor([0.1, 0.05, 0.2]), torch.zeros(M), torch.zeros(M))
    assert lazy.make_lazy(0)
    for t in range(25):
        mu = torch.tensor([0.9, 0.0 if t % 5 == 0 else 0.7, 0.5 + 0.01 * t])
        dense.momentum = lazy.momentum = mu
        rows = torch.tensor(sorted({int(r) for r in torch.randint(0, M * d, (5,))}))
        g_rows = torch.randn(len(rows), h)
        g = torch.zeros(M * d, h)
        g[rows] = g_rows
        active = torch.tensor([True, t % 3 != 1, True])
        scale = torch.tensor([1.0, 0.5, 2.0])
        dense.step([g.view(M, d, h)], active, scale)
        lazy.step([RowGrad(rows, g_rows, d, M)], active, scale)
        if t % 9 == 8:
            lazy.sync()  # a read in between (an epoch end)
    lazy.sync()
    assert torch.allclose(lazy.params[0], dense.params[0], atol=1e-6)
    assert torch.allclose(lazy.bufs[0], dense.bufs[0], atol=1e-6)


def test_amema_stack_on_sparse_rows_trains_as_the_dense_update(monkeypatch):
    import numpy as np

    import ildl.engine as E
    from helpers import trainer
    from ildl.methods import Batch
    from ildl.stack import Rows, pad

    monkeypatch.setattr(E, "LAZY_MIN", 0)
    rng = np.random.default_rng(0)
    M, n, d, C = 3, 40, 300, 4
    X = [((rng.random((n, d)) < 0.03) * rng.random((n, d))).astype(np.float32) for _ in range(M)]
    Y = [rng.dirichlet(np.ones(C), n).astype(np.float32) for _ in range(M)]

    def run(lazy: bool):
        t = trainer("amema", [{"clip": 0.5}, {"mome": False}, {}], M=M, dims=dict(d=d, C=C), seeds=[1, 2, 3])
        assert bool(t.lazy) and sorted(t.lazy) == ["ns.0.weight", "s.0.weight"]
        if not lazy:
            t.lazy = {}
        rows, y = Rows(X, torch.device("cpu"), sparse=True), pad(Y, torch.device("cpu"))
        g = torch.Generator().manual_seed(0)
        for s in range(40):
            idx = torch.stack([torch.randperm(n, generator=g)[:8] for _ in range(M)])
            mask = torch.ones(M, 8, dtype=torch.bool)
            mask[1] = s % 7 != 3  # model 1 sits some steps out
            t.step(Batch(x=rows.take(idx), y={"y": y[torch.arange(M)[:, None], idx]}, mask=mask))
        return t.predict(rows.all()[0])

    assert torch.allclose(run(True), run(False), atol=1e-6)
