"""The teaching pages and the library functions they draw: decoupling identity, attenuation, soft labels."""
import json
import time

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import ROOT
from ildl.decouple import attenuation_curve, identity_terms, shape_gradient
from ildl.regression import group_edges, group_of, lds_weights, shot_regions, soft_labels


# ------------------------------------------------------------------ library
def test_plain_kl_shape_gradient_is_proportional_to_one_minus_dk():
    nd = torch.tensor([0.0, 0.5, 0.3, 0.2], dtype=torch.float64)
    z = torch.tensor([0.3, -1.0, 0.4, 2.0], dtype=torch.float64)
    d = torch.linspace(0.25, 0.99, 30, dtype=torch.float64)
    a = attenuation_curve(nd, 0, z, d, alpha=0.6)
    ratio = a["shape_kl"] / (1 - d)
    assert torch.allclose(ratio, ratio[0].expand_as(ratio), rtol=1e-9)
    # decoupled: constant (1 − α)·‖p̂ − D̂‖ whatever d_k
    assert torch.allclose(a["shape_decoupled"], 0.4 * ratio, rtol=1e-9)
    p_hat = torch.softmax(z[1:], -1)
    assert ratio[0].item() == pytest.approx((p_hat - nd[1:]).norm().item(), rel=1e-9)


def test_shape_gradient_matches_closed_form():
    y = torch.tensor([[0.6, 0.1, 0.3]], dtype=torch.float64)
    z = torch.tensor([[0.2, 0.5, -0.1]], dtype=torch.float64)
    g = shape_gradient(y, z, "kl")
    p_hat = torch.softmax(z[0, 1:], -1)
    want = 0.4 * (p_hat - torch.tensor([0.25, 0.75], dtype=torch.float64))
    assert torch.allclose(g[0, 1:], want) and g[0, 0] == 0


def test_soft_labels_properties():
    G = 9
    q = soft_labels(torch.arange(G), G, beta=1.3)
    assert torch.allclose(q.sum(1), torch.ones(G, dtype=torch.float64))
    assert (q.argmax(1) == torch.arange(G)).all()  # peak at the true group
    assert torch.allclose(q, q.flip(0).flip(1))  # symmetric: group g mirrors group G−1−g
    mid = q[4]
    assert torch.allclose(mid[:4], mid[5:].flip(0))  # descends symmetrically around g
    assert (mid[:4].diff() > 0).all()
    assert torch.allclose(soft_labels(torch.tensor([3]), G, beta=200.0)[0], torch.eye(G, dtype=torch.float64)[3])
    assert torch.allclose(soft_labels(torch.tensor([3]), G, beta=0.0)[0], torch.full((G,), 1 / G, dtype=torch.float64))


def test_groups_and_lds_against_hand_computation():
    y = np.array([0.0, 1.0, 2.0, 9.0, 10.0])
    e = group_edges(y, 2)
    assert e.tolist() == [0.0, 5.0, 10.0] and group_of(y, e).tolist() == [0, 0, 0, 1, 1]
    bins = np.array([0.0, 1.0, 2.0, 3.0])
    yt = np.array([0.5, 0.5, 0.5, 0.5, 1.5, 2.5])  # counts 4, 1, 1 → √ = 2, 1, 1
    k = np.exp(-np.array([4.0, 1.0, 0.0, 1.0, 4.0]) / (2 * 4.0))
    s0 = 2 * k[2] + 1 * k[3] + 1 * k[4]
    s1 = 2 * k[1] + 1 * k[2] + 1 * k[3]
    s2 = 2 * k[0] + 1 * k[1] + 1 * k[2]
    w = 1 / np.array([s0] * 4 + [s1, s2])
    assert lds_weights(yt, bins, ks=5, sigma=2.0) == pytest.approx(w * 6 / w.sum())
    counts = np.array([300, 150, 40, 10, 1])
    assert shot_regions(counts).tolist() == ["many", "many", "medium", "few", "few"]


# ------------------------------------------------------------------ pages
def _run(path, **qp):
    at = AppTest.from_file(str(ROOT / path), default_timeout=60)
    for k, v in qp.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _arr(v):
    """A Plotly array from a figure's JSON: a list, or {dtype, bdata} base64."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).astype(float)
    return np.asarray(v, float)


def _figs(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _identity(at):
    df = at.dataframe[0].value
    return dict(zip(df["term"], df["value"]))


def test_decoupling_page_identity_matches_library_and_sliders_redraw():
    at = _run("pages/3_Decoupling.py", dataset="Movie")
    from ildl.data import load

    ds = load("Movie")
    idx = int(at.number_input(key="dec_idx").value)
    at.slider(key="dec_z1").set_value(1.5).run()
    at.slider(key="dec_z3").set_value(-2.0).run()
    z = torch.zeros(1, 5, dtype=torch.float64)
    z[0, 1], z[0, 3] = 1.5, -2.0
    lib = {k: float(v[0]) for k, v in identity_terms(torch.tensor(ds.Y[idx][None], dtype=torch.float64), z).items()}
    page = _identity(at)
    assert page["KL(y‖p)"] == pytest.approx(lib["total"], abs=1e-9)
    assert page["KL(b‖[p_k, 1−p_k])"] == pytest.approx(lib["dominant"], abs=1e-9)
    assert page["KL(D̂‖p̂)"] == pytest.approx(lib["nondominant"], abs=1e-9)
    assert page["|left − right|"] < 1e-6
    # the gradient chart follows α and its plain-KL curve is ∝ (1 − d_k); norms and raw gradients have their own
    # axes, and the caption is computed from the curves
    title = "How hard each loss shapes"
    before = [f for f in _figs(at) if title in f["layout"]["title"]["text"]][0]
    at.slider(key="dec_alpha").set_value(0.2).run()
    after = [f for f in _figs(at) if title in f["layout"]["title"]["text"]][0]
    assert before["data"][1]["y"] != after["data"][1]["y"]
    assert after["data"][0]["name"] == "plain KL" and after["layout"]["yaxis"]["title"]["text"].endswith("(≥ 0)")
    d, g = _arr(after["data"][0]["x"]), _arr(after["data"][0]["y"])
    r = g / (1 - d)
    assert len(d) == 60 and np.allclose(r, r[0], rtol=1e-6) and r[0] > 0
    assert any("raw, signed" in f["layout"]["title"]["text"] or "raw gradient" in f["layout"]["title"]["text"]
               for f in _figs(at))
    dk = float(ds.Y[idx].max())
    cap = next(c.value for c in at.caption if c.value.startswith("At this sample's d_k"))
    assert f"{(1 - dk) / (1 - d[0]):.0%}" in cap and "keeps 100%" in cap


def test_decoupling_page_typed_distribution_and_bad_input():
    at = _run("pages/3_Decoupling.py")
    at.radio(key="dec_src").set_value("type one").run()
    at.text_input(key="dec_typed").set_value("1, 2, 3, 4, 10").run()
    assert not at.exception
    assert _identity(at)["1 − d_k"] == pytest.approx(0.5)
    at.text_input(key="dec_typed").set_value("1, -2, 3").run()
    assert not at.exception and any("non-negative" in e.value for e in at.error)


def test_soft_label_page_sliders_redraw():
    at = _run("pages/4_Soft_labels.py")
    m1 = _figs(at)[0]
    q = np.array([_arr(row) for row in m1["data"][0]["z"]]) if isinstance(m1["data"][0]["z"], list) else \
        _arr(m1["data"][0]["z"]).reshape(10, 10)
    assert np.allclose(q.sum(1), 1) and (q.argmax(1) == np.arange(10)).all()  # the page's soft labels
    at.slider(key="soft_beta").set_value(3.0).run()
    m2 = _figs(at)[0]
    assert m1["data"][0]["z"] != m2["data"][0]["z"]
    at.slider(key="soft_G").set_value(5).run()
    assert not at.exception
    bars = [f for f in _figs(at) if f["layout"]["title"]["text"].startswith("Targets for true group")][0]
    assert len(bars["data"][0]["x"]) == 5
    at.radio(key="soft_src").set_value("synthetic skewed regression").run()
    assert not at.exception and any("synthetic skewed regression" in f["layout"]["title"]["text"] for f in _figs(at))


def test_soft_label_page_after_training_views():
    at = _run("pages/4_Soft_labels.py")
    from pages._ui.common import registry

    at.radio(key="soft_src").set_value("synthetic skewed regression").run()
    at.button(key="soft_train").click().run()  # trains in the background: the page answers at once
    assert not at.exception and not at.error
    (run_id,) = at.session_state["soft_runs"].values()
    job = registry().get(run_id)
    t0 = time.time()
    while job.running and time.time() - t0 < 120:
        time.sleep(0.1)
    assert job.status == "done", job.error
    at.run()
    assert not at.exception and not at.error
    cap = next(c.value for c in at.caption if c.value.startswith("Of the mistakes at |G|"))
    assert "one group away" in cap and "soft" in cap
    figs = {f["layout"]["title"]["text"]: f for f in _figs(at)}
    dist = next(f for t, f in figs.items() if t.startswith("|predicted − true group|"))
    assert [t["name"] for t in dist["data"]] == ["group-ce", "group-la", "group-soft"]
    for t in dist["data"]:
        assert abs(sum(_arr(t["y"])) - 1) < 0.05  # shares of the test fold (first bars)
    acc = next(f for t, f in figs.items() if t.startswith("Group accuracy vs |G|"))
    assert _arr(acc["data"][0]["x"]).tolist() == [5, 10, 25]


def test_decoupling_page_with_a_finished_run():
    from pages._ui.common import registry

    job = registry().submit(dict(dataset="synthetic", dataset_kw=dict(n=300), methods=["uniform", "train_mean", "amema"],
                                 settings={"amema": {"epochs": 3}}))
    job.join()
    idx, pred = registry().store.predictions(job.id)[("amema", 0)]
    at = _run("pages/3_Decoupling.py", syn_n="300")
    opts = at.selectbox(key="dec_pred_src").options
    run_opt = next(o for o in opts if job.id in o)
    at.number_input(key="dec_idx").set_value(int(idx[3])).run()
    at.selectbox(key="dec_pred_src").set_value(run_opt).run()
    assert not at.exception and not at.error
    figs = {f["layout"]["title"]["text"]: f for f in _figs(at)}
    assert "dominant part" in figs  # the prediction decoupled next to the truth
    p = dict((t["name"], _arr(t["y"])) for t in figs["truth and prediction, whole and non-dominant parts"]["data"])
    assert np.allclose(p["p"], pred[3], atol=1e-5)
    assert _identity(at)["|left − right|"] < 1e-6
def test_label_shift_page_moves_with_the_prior():
    import json

    from streamlit.testing.v1 import AppTest

    from conftest import ROOT
    from pages._ui.common import registry

    at = AppTest.from_file(str(ROOT / "pages/7_Label_shift.py"), default_timeout=120).run()
    assert not at.exception and not at.error
    (run_id,) = at.session_state["shift_runs"].values()  # training started in the background on the first view
    job = registry().get(run_id)
    t0 = time.time()
    while job.running and time.time() - t0 < 120:
        time.sleep(0.1)
    at.run()
    assert not at.exception and not at.error

    def acc():
        f = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                 if "Accuracy under this test prior" in json.loads(c.proto.spec)["layout"]["title"]["text"])
        y = f["data"][0]["y"]
        if isinstance(y, dict):  # plotly's base64 encoding of numpy arrays
            import base64

            y = np.frombuffer(base64.b64decode(y["bdata"]), dtype=np.dtype(y["dtype"])).tolist()
        return dict(zip(f["data"][0]["x"], y))

    uniform = acc()
    assert uniform["pc"] > uniform["ce"] and uniform["lade"] > uniform["ce"]
    at.slider(key="shift_shift").set_value(1.0).run()  # test prior = training prior
    forward = acc()
    assert forward != uniform
    # shift +1 is the training profile (up to the integer counts): PC's correction all but vanishes
    assert abs(forward["pc"] - forward["ce"]) < 0.01 < uniform["pc"] - uniform["ce"]
