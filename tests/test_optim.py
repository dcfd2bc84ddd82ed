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
