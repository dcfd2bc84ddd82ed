"""AppTest: every page renders, widgets change what is drawn, training starts and stops cleanly."""
import io
import json
import threading
import time

import numpy as np
import pytest
import scipy.io as sio
from streamlit.testing.v1 import AppTest

from conftest import ROOT

T = 60


def page(name, **qp):
    at = AppTest.from_file(str(ROOT / name), default_timeout=T)
    for k, v in qp.items():
        at.query_params[k] = v
    return at.run()


def live_charts(at):
    """Figures drawn by the live chart component (pages/_ui/live_chart.py), in page order."""
    return [json.loads(json.loads(c.proto.json_args)["figure"]) for c in at.get("component_instance")]


def charts(at):
    """Every Plotly figure on the page: live charts first, then st.plotly_chart ones."""
    return live_charts(at) + [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def no_errors(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_home_shows_default_dataset_and_device():
    at = page("app.py")
    no_errors(at)
    assert at.metric[0].value == "synthetic"
    assert any("Device:" in c.value for c in at.caption)  # at first maybe "detecting…": the page does not wait
    from pages._ui.common import _warm, warm_up

    warm_up()  # the Home script starts it last
    _warm()["thread"].join(120)  # the background warm-up (torch, the registries) finishes…
    at.run()  # …and the next draw names the device
    assert any("Device:" in c.value and ("CPU" in c.value or "CUDA" in c.value) for c in at.caption)
    assert charts(at)[0]["data"][0]["type"] == "heatmap"


def test_data_page_slider_regenerates_and_url_follows():
    at = page("pages/1_Data.py")
    no_errors(at)
    before = charts(at)
    assert at.metric[0].value == "800 × 20"
    at.slider(key="data_syn_n").set_value(400).run()
    no_errors(at)
    assert at.metric[0].value == "400 × 20"
    assert at.query_params["syn_n"] == "400"
    assert charts(at)[2]["data"][0]["z"] != before[2]["data"][0]["z"]  # the heatmap changed


def test_url_reproduces_a_view():
    at = page("pages/1_Data.py", dataset="Movie", method="amema")
    no_errors(at)
    assert at.selectbox(key="data_sb_dataset").value == "Movie"
    # the Data page has no method picker (controls that do not apply are hidden), but the choice is kept
    assert at.session_state["app"]["method"] == "amema" and at.query_params["method"] == "amema"
    assert "data_sb_method" not in [w.key for w in at.sidebar.selectbox]
    assert at.metric[0].value == "7755 × 1869"
    assert "Head labels" in at.markdown[-1].value or any("L0" in m.value for m in at.markdown)


def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_bad_upload_shows_message_and_app_stays_usable():
    at = page("pages/1_Data.py")
    at.file_uploader(key="data_upload").upload("bad.npz", _npz(feats=np.ones((5, 2)), labels=np.ones((5, 2)) / 2)).run()
    assert not at.exception
    assert any("missing key" in e.value for e in at.error)
    assert at.selectbox(key="data_sb_dataset").value == "synthetic"  # the previous dataset stays
    assert at.metric[0].value == "800 × 20"
    # a good upload is then taken and selected
    X = np.random.default_rng(0).random((60, 3))
    Y = np.random.default_rng(1).dirichlet(np.ones(4), 60)
    buf = io.BytesIO()
    sio.savemat(buf, dict(features=X, labels=Y))
    at.file_uploader(key="data_upload").set_value(("mine.mat", buf.getvalue(), "application/octet-stream")).run()
    no_errors(at)
    assert at.selectbox(key="data_sb_dataset").value == "upload"
    assert at.metric[0].value == "60 × 3"


def test_an_upload_named_like_a_benchmark_gets_its_published_filter_on_the_page():
    """A reviewer's `Natural_Scene.mat`: the thresholds field holds Natural Scene's published filter, the page
    says where it came from, and the imbalance analysis runs under it."""
    rng = np.random.default_rng(4)
    buf = io.BytesIO()
    sio.savemat(buf, dict(features=rng.random((300, 6)), labels=rng.dirichlet(np.ones(9), 300)))
    at = page("pages/1_Data.py")
    at.file_uploader(key="data_upload").set_value(("Natural_Scene.mat", buf.getvalue(), "application/octet-stream"))
    at.run()
    no_errors(at)
    assert at.selectbox(key="data_sb_dataset").value == "upload"
    assert any("Natural Scene benchmark's published ILDL filter" in w.value for w in at.warning)
    box = next(t for t in at.text_input if t.label.startswith("ILDL thresholds"))
    assert box.value == "5,2,0,4"
    assert at.metric[0].value == "300 × 6"


def _wait(pred, timeout=20):
    t0 = time.time()
    while not pred() and time.time() - t0 < timeout:
        time.sleep(0.05)
    return pred()


def test_train_start_then_stop_ends_cleanly():
    from pages._ui.common import registry

    at = page("pages/2_Train.py", syn_n="200")
    no_errors(at)
    at.number_input(key="train_ldl-kl_epochs_0").set_value(5000).run()
    threads_before = threading.active_count()
    at.button(key="train_start").click().run()
    no_errors(at)
    run_id = at.query_params["run"]
    job = registry().get(run_id)
    assert job is not None and _wait(lambda: job.epochs_done >= 2)
    at.run()
    assert at.button(key="train_stop").disabled is False
    at.button(key="train_stop").click().run()
    assert job.join(1.0) and job.status == "stopped"
    no_errors(at)
    assert at.button(key="train_start").disabled is False
    assert threading.active_count() <= threads_before


def test_train_amema_finishes_with_charts_results_and_replay():
    from pages._ui.common import registry

    at = page("pages/2_Train.py", method="amema", syn_n="200")
    at.number_input(key="train_amema_epochs_0").set_value(5).run()
    at.button(key="train_start").click().run()
    job = registry().get(at.query_params["run"])
    assert _wait(lambda: not job.running)
    at.run()
    no_errors(at)
    live = live_charts(at)[0]
    titles = [a["text"] for a in live["layout"]["annotations"]]
    assert any("Branch momenta" in t for t in titles)
    assert live["layout"]["uirevision"] == job.id  # zoom and legend state survive redraws of this run
    mu_axis = "y" + str(1 + next(i for i, t in enumerate(titles) if "Branch momenta" in t))
    mu = [t for t in live["data"] if t.get("yaxis") == mu_axis and t.get("showlegend", True)]
    assert [t["name"] for t in mu] == ["mu_s", "mu_ns"] and mu[0]["line"]["color"] != mu[1]["line"]["color"]
    assert any("amema" in str(df.value) for df in at.dataframe)
    assert any(i.value.startswith("Viewing run") and "amema" in i.value for i in at.info)  # the banner
    # the replay: every logged scalar, stepped epoch by epoch
    at.button(key="train_rp_first").click().run()
    first = next(m.value for m in at.markdown if m.value.startswith("**Epoch 1 of 5**"))
    assert "w_ns" in first and "mu_ns" in first and "val_kl" in first
    at.button(key="train_rp_step").click().run()
    second = next(m.value for m in at.markdown if m.value.startswith("**Epoch 2 of 5**"))
    assert second != first
    # the run is on disk and listed
    assert job.id in [r["id"] for r in registry().store.list()]


def test_ten_start_stop_cycles_leave_no_threads():
    from pages._ui.common import registry

    at = page("pages/2_Train.py", syn_n="200")
    at.number_input(key="train_ldl-kl_epochs_0").set_value(5000).run()
    base = threading.active_count()
    jobs = []
    for _ in range(10):
        at.button(key="train_start").click().run()
        job = registry().get(at.query_params["run"])
        jobs.append(job)
        assert _wait(lambda job=job: job.epochs_done >= 1)
        at.button(key="train_stop").click().run()
        assert job.join(1.0) and job.status == "stopped"
    assert len({j.id for j in jobs}) == 10
    assert threading.active_count() <= base


def test_ablation_page_fills_table_and_stop_keeps_finished_cells():
    from pages._ui.common import registry

    at = page("pages/5_Ablation.py", syn_n="300")
    no_errors(at)
    at.number_input(key="abl_epochs").set_value(20).run()
    at.number_input(key="abl_chunk").set_value(1).run()
    at.button(key="abl_start").click().run()
    job = registry().get(at.query_params["study_run"])
    # wait until a couple of folds are in, then stop: the finished cells stay
    assert _wait(lambda: len([r for r in job.rows if r["config"] == "weig+mome"]) >= 2, timeout=60)
    at.button(key="abl_stop").click().run()
    assert job.join(2.0) and job.status in ("stopped", "done")
    no_errors(at)
    table = next(m.value for m in at.markdown if m.value.startswith("| config"))
    assert "| weig+mome |" in table and "_uniform_" in table and "**" in table
    n_done = len([r for r in job.rows if r["config"] == "none"])
    assert f"| none | {n_done} |" in table
    keys = [c.key for c in at.get("plotly_chart")]
    assert sum(k.startswith("abl_bar_") for k in keys) == 6  # a bar chart per metric
    assert any(k.endswith("_sources") for k in keys)  # and where the error comes from
    # a fresh session (a refresh) with the id in the URL shows the same cells
    again = page("pages/5_Ablation.py", syn_n="300", study_run=job.id)
    assert next(m.value for m in again.markdown if m.value.startswith("| config")) == table


def test_compare_page_overlays_runs():
    from pages._ui.common import registry

    reg = registry()
    for m in ("ldl-kl", "amema"):
        job = reg.submit(dict(dataset="synthetic", dataset_kw=dict(n=300), methods=["uniform", "train_mean", m],
                              settings={m: {"epochs": 4}}))
        job.join()
    at = page("pages/6_Compare.py", syn_n="300")
    no_errors(at)
    figs = charts(at)
    titles = [f["layout"].get("title", {}).get("text", "") for f in figs]
    assert any(t.startswith("Test sample") for t in titles) and any("relative to the uniform" in t for t in titles)
    sample = next(f for f in figs if f["layout"]["title"]["text"].startswith("Test sample"))
    assert [t["name"] for t in sample["data"]][0] == "true" and len(sample["data"]) == 3
    at.slider(key="cmp_smooth").set_value(0.0).run()
    no_errors(at)


def test_train_page_controls_come_from_and_go_to_the_url():
    at = page("pages/2_Train.py", task="dir", train_dir_groups="20", train_seed="3", train_pace="0.25",
              train_dir_method="group-soft")
    no_errors(at)
    assert at.selectbox(key="train_dir_method").value == "group-soft"
    assert at.slider(key="train_dir_groups").value == 20 and at.number_input(key="train_seed").value == 3
    assert at.select_slider(key="train_pace").value == 0.25
    at.number_input(key="train_seed").set_value(7).run()
    assert at.query_params["train_seed"] == "7" and at.query_params["train_dir_groups"] == "20"
    # emptying a control (the ⊗ of a number box or select) brings back its default, not None
    at.number_input(key="train_seed").set_value(None).run()
    no_errors(at)
    assert at.number_input(key="train_seed").value == 0 and "train_seed" not in at.query_params
    at.selectbox(key="train_x").set_value(None).run()
    no_errors(at)
    assert at.selectbox(key="train_x").value == "step"
    # a value that does not fit is refused with a message, the control keeps its default
    at = page("pages/2_Train.py", train_seed="-4", train_x="nonsense")
    assert any("train_seed" in w.value for w in at.warning) and any("train_x" in w.value for w in at.warning)
    assert at.number_input(key="train_seed").value == 0


@pytest.mark.parametrize("task,method,metric", [("dir", "group-soft", "group_acc"), ("lt", "lade", "acc_few")])
def test_train_page_other_tasks(task, method, metric):
    from pages._ui.common import registry

    at = page("pages/2_Train.py")
    at.radio(key="train_task").set_value(task).run()
    no_errors(at)
    at.number_input(key=f"train_{method}_epochs_0").set_value(3).run()
    at.button(key="train_start").click().run()
    job = registry().get(at.query_params["run"])
    assert _wait(lambda: not job.running, timeout=60) and job.status == "done", job.error
    at.run()
    no_errors(at)
    table = at.dataframe[0].value
    assert method in table["method"].tolist() and metric in table.columns
    live = live_charts(at)[0]
    assert any("Loss terms" in a["text"] for a in live["layout"]["annotations"])


@pytest.mark.parametrize("study,data,expect", [("lt", "digits-lt", "lade@uniform"),
                                               ("group-dir", "synthetic-dir", "group-soft@G10")])
def test_ablation_page_other_studies(study, data, expect):
    from pages._ui.common import registry

    at = page("pages/5_Ablation.py")
    at.selectbox(key="abl_study").set_value(study).run()
    no_errors(at)
    at.number_input(key="abl_epochs").set_value(3).run()
    if study == "group-dir":
        at.multiselect(key="abl_folds_dir").set_value([0, 1, 2]).run()
    at.button(key="abl_start").click().run()
    job = registry().get(at.query_params["study_run"])
    assert _wait(lambda: not job.running, timeout=120) and job.status == "done", job.error
    at.run()
    no_errors(at)
    table = next(m.value for m in at.markdown if m.value.startswith("| config"))
    assert f"| {expect} | 3 |" in table


def test_train_parameters_round_trip_through_the_url():
    at = page("pages/2_Train.py", method="amema", p_epochs="7", p_weig="false")
    no_errors(at)
    assert at.number_input(key="train_amema_epochs_0").value == 7
    assert at.toggle(key="train_amema_weig_0").value is False
    at.number_input(key="train_amema_epochs_0").set_value(9).run()
    assert at.query_params["p_epochs"] == "9" and at.query_params["p_weig"] == "False"
    at.toggle(key="train_amema_weig_0").set_value(True).run()
    assert "p_weig" not in at.query_params  # defaults are left out of the link
    lt = page("pages/2_Train.py", task="lt", p_epochs="4")
    assert lt.radio(key="train_task").value == "lt" and lt.number_input(key="train_lade_epochs_0").value == 4
    bad = page("pages/2_Train.py", p_epochs="lots")
    assert not bad.exception and any("Ignoring p_epochs" in w.value for w in bad.warning)


def test_switching_method_does_not_inherit_url_parameters():
    at = page("pages/2_Train.py", method="ldl-kl", p_epochs="7")
    assert at.number_input(key="train_ldl-kl_epochs_0").value == 7
    at.selectbox(key="train_sb_method").set_value("amema").run()
    no_errors(at)
    assert at.number_input(key="train_amema_epochs_0").value == 50  # AMEMA's own default
    assert "p_epochs" not in at.query_params


def test_data_page_thumbnails_pick_a_dataset():
    at = page("pages/1_Data.py")
    assert len(at.get("image")) == 10  # synthetic + the nine bundled sets
    assert at.button(key="data_use_synthetic").disabled  # the current one
    at.button(key="data_use_Movie").click().run()
    no_errors(at)
    assert at.selectbox(key="data_sb_dataset").value == "Movie" and at.query_params["dataset"] == "Movie"
    assert at.metric[0].value == "7755 × 1869"


def test_live_chart_falls_back_to_plotly_chart_without_a_writable_temp_dir(tmp_path, monkeypatch):
    import importlib
    import tempfile

    import pages._ui.live_chart as LC

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(blocker))  # mkdir under a file fails
    try:
        importlib.reload(LC)
        assert LC._component is None  # the page still draws its charts, with st.plotly_chart
    finally:
        monkeypatch.undo()
        importlib.reload(LC)
    assert LC._component is not None


def test_compare_page_trains_the_papers_table_as_groups():
    at = page("pages/6_Compare.py", syn_n="300")
    no_errors(at)
    at.number_input(key="cmp_table_folds").set_value(1).run()
    at.button(key="cmp_table_start").click().run()
    no_errors(at)
    rid = at.query_params["cmp_table"]
    from pages._ui.common import registry

    registry().get(rid).join(300)
    at = page("pages/6_Compare.py", syn_n="300", cmp_table=rid)
    no_errors(at)
    table = next(m.value for m in at.markdown if m.value.startswith("| config"))
    rows = [ln.split("|")[1].strip() for ln in table.splitlines()[2:]]
    assert rows[:3] == ["_uniform_", "_train_mean_", "_test_mean (oracle)_"]
    assert rows[3:] == ["sa-bfgs", "edl-lrl", "ldlsf", "ldl-lclr", "adam-ldl-scl", "ldl-ldm"]  # the papers' order
    assert "| *classic LDL learners*" not in table  # one trained group: no group titles needed
    assert any(b.label == "Table as LaTeX" for b in at.get("download_button"))


def test_train_shrink_form_and_validation_split_go_into_the_run_and_back_into_the_controls():
    from pages._ui.common import registry

    at = page("pages/2_Train.py", syn_n="200")
    assert not [s for s in at.selectbox if s.key == "train_shrink_form"]  # only with +shrink on
    at.toggle(key="train_shrink").set_value(True).run()
    at.selectbox(key="train_shrink_form").set_value("log").run()
    at.selectbox(key="train_val_split").set_value("boundary").run()
    at.number_input(key="train_ldl-kl_epochs_0").set_value(3).run()
    at.button(key="train_start").click().run()
    no_errors(at)
    job = registry().get(at.query_params["run"])
    assert job.config["shrink_form"] == "log" and "ldl-kl+shrink" in job.config["methods"]
    assert job.config["val_split"] == "boundary"
    assert job.join(60)
    again = page("pages/2_Train.py", run=job.id)  # a link to the run sets the controls it was made with
    no_errors(again)
    assert again.toggle(key="train_shrink").value and again.selectbox(key="train_shrink_form").value == "log"
    assert again.selectbox(key="train_val_split").value == "boundary"


def test_the_published_amema_figure_is_explained_where_it_is_shown():
    """The published AMEMA figures come from code whose prediction head is never trained (docs/reference_amema.md):
    the note stands under every table that shows them — the Ablation page's AMEMA study on Movie — and nowhere
    else (another study, another dataset)."""
    from ildl import report
    from pages._ui.common import registry

    assert report.published_notes(["uniform", "amema+la"], "Movie") == [report.PUBLISHED_NOTES["amema"]]
    assert report.published_notes(["amema"], "synthetic") == [] and report.published_notes(["ldl-kl"], "Movie") == []
    job = registry().submit(dict(study="amema", dataset="Movie", fold_ids=[0], settings={"*": {"epochs": 1}}))
    assert job.join(120) and job.status == "done", job.error
    at = page("pages/5_Ablation.py", dataset="Movie", study_run=job.id)
    no_errors(at)
    assert any("head that no loss trains" in i.value and "0.1964" in i.value for i in at.info)
    other = registry().submit(dict(study="rda", dataset="Movie", fold_ids=[0], settings={"*": {"epochs": 1}}))
    assert other.join(120) and other.status == "done", other.error
    at = page("pages/5_Ablation.py", dataset="Movie", abl_study="rda", study_run=other.id)
    no_errors(at)
    assert not any("head that no loss trains" in i.value for i in at.info)


def test_train_page_says_which_method_to_start_with_and_where_it_fails():
    from ildl.tasks import get

    at = page("pages/2_Train.py")
    no_errors(at)
    t = get("ldl")
    box = next(e for e in at.expander if t.recommended in e.label)
    text = " ".join(m.value for m in box.markdown)
    assert all(line in text for line in t.advice) and "on Movie it does not" in text
    other = page("pages/2_Train.py", task="dir")
    no_errors(other)
    assert not any("start with" in e.label for e in other.expander)  # dir names no method to start with
