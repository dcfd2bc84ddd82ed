import numpy as np
import pytest
import torch

from ildl.decouple import binary_kl, decouple, identity_terms, kl, log_nondominant, recombine


def random_dists(B=64, C=6, seed=0, sharp=3.0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(sharp * torch.randn(B, C, generator=g, dtype=torch.float64), -1)


def test_decouple_hand_example():
    y = torch.tensor([[0.1, 0.6, 0.3]], dtype=torch.float64)
    d = decouple(y, "renorm")
    assert d.k.item() == 1 and d.dk.item() == pytest.approx(0.6)
    assert d.onehot.tolist() == [[0, 1, 0]]
    assert d.binary.tolist()[0] == pytest.approx([0.6, 0.4])
    assert d.nondom.tolist()[0] == pytest.approx([0.25, 0.0, 0.75])
    s = decouple(y, "softmax").nondom[0]
    e1, e3 = np.exp(0.1), np.exp(0.3)
    assert s.tolist() == pytest.approx([e1 / (e1 + e3), 0.0, e3 / (e1 + e3)])


@pytest.mark.parametrize("C", [2, 3, 7, 20])
def test_kl_identity_on_random_distributions(C):
    y = random_dists(128, C, seed=C)
    z = torch.randn(128, C, generator=torch.Generator().manual_seed(100 + C), dtype=torch.float64) * 2
    t = identity_terms(y, z)
    assert torch.allclose(t["total"], t["rhs"], atol=1e-10)
    # and against an independent plain computation
    p = torch.softmax(z, -1)
    assert torch.allclose(t["total"], (y * torch.log(y / p)).sum(-1), atol=1e-10)


@pytest.mark.parametrize("variant", ["renorm", "softmax"])
def test_recombine_inverts_decouple(variant):
    y = random_dists(100, 5, seed=3)
    d = decouple(y, "renorm")
    assert torch.allclose(recombine(d.k, d.dk, d.nondom), y, atol=1e-12)
    # decouple ∘ recombine = id on (k, q, p̂) with q the largest entry
    dv = decouple(y, variant)
    q = torch.full((100,), 0.9, dtype=torch.float64)
    p = recombine(dv.k, q, dv.nondom)
    assert torch.allclose(p.sum(-1), torch.ones(100, dtype=torch.float64))
    d2 = decouple(p, "renorm")
    assert torch.equal(d2.k, dv.k) and torch.allclose(d2.dk, q) and torch.allclose(d2.nondom, dv.nondom)


def test_one_hot_rows_are_safe():
    y = torch.tensor([[0.0, 1.0, 0.0]])
    d = decouple(y, "renorm")
    assert torch.isfinite(d.nondom).all() and d.nondom.sum().item() == pytest.approx(1.0)
    z = torch.randn(1, 3)
    t = identity_terms(y, z)
    assert torch.allclose(t["total"], t["rhs"], atol=1e-6)


def test_binary_kl_and_nondominant_logp():
    z = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64)
    p = torch.softmax(z, -1)[0]
    k = torch.tensor([1])
    want = 0.7 * np.log(0.7 / p[1].item()) + 0.3 * np.log(0.3 / (1 - p[1].item()))
    assert binary_kl(torch.tensor([0.7], dtype=torch.float64), z, k).item() == pytest.approx(want, abs=1e-12)
    lp = log_nondominant(z, k)[0]
    assert lp[1].item() == float("-inf")
    assert lp[[0, 2]].exp().tolist() == pytest.approx((p[[0, 2]] / (1 - p[1])).tolist())
    assert kl(torch.tensor([[0.0, 1.0]]), torch.log(torch.tensor([[0.0, 1.0]]))).item() == 0.0
