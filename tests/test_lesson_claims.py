"""The README's lesson: each claim of its 'what to point at' column, checked against the numbers the linked page
shows (AppTest renders the page; the library computes what the page computes)."""
from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT
from ildl import lessons
from ildl.data import load
from ildl.report import explain
from ildl.runner import run, run_experiment


def _page(name: str, **qp) -> AppTest:
    at = AppTest.from_file(str(next((ROOT / "pages").glob(f"[0-9]_{name}.py"))), default_timeout=90)
    for k, v in qp.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def test_step_problem_movie_training_centres_on_L0_test_on_L2():
    text = _text(_page("Data", dataset="Movie"))
    assert "97% of the training samples have **L0** as their dominant label" in text
    assert "L0 0.49 → 0.11" in text and "L2 0.14 → 0.32" in text
    assert "The training mass centres on **L0**, the test mass centres on **L2**" in text


def test_step_movie_like_preset_copies_the_regime():
    at = _page("Data", dataset="synthetic", syn_signal="0.3", syn_skew="1")
    assert "The training mass centres on **L0**, the test mass spreads almost evenly" in _text(at)


def test_step_movies_filter_preset_centres_the_test_mass_on_L2():
    """The lesson's fourth preset button, pressed on the Data page: the centre profile, whose training mass
    centres on L0 and test mass on L2, as Movie's."""
    at = _page("Data", dataset="synthetic", syn_signal="0.3", syn_skew="1")
    at.button(key="data_preset_Movie's filter").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "The training mass centres on **L0**, the test mass centres on **L2**" in _text(at)
    assert at.query_params.get("syn_profile") in ("centre", ["centre"])


def test_step_decoupling_regime_claim_holds():
    rows = run(lessons.decoupling_config())
    holds, sentence = lessons.decoupling_sentence(rows)
    assert holds, sentence


@pytest.fixture(scope="module")
def movie():
    return load("Movie")


def test_step_amema_error_is_mostly_the_label_prior(movie):
    rows = run_experiment(movie, ["uniform", "amema"], folds=10, fold_ids=[0])
    text = " ".join(explain(rows))
    assert "of it is the label prior" in text and "where the test folds centre on label 2" in text


def test_step_prior_correction_beats_uniform_on_movie_fold0(movie):
    rows = run_experiment(movie, ["uniform", "ofr-db+la"], folds=10, fold_ids=[0])
    u, m = rows[0], rows[1]
    assert m["chebyshev"] < u["chebyshev"] and m["kl"] < u["kl"]
    assert m["prior_gap"] < u["prior_gap"]
    assert np.isfinite(m["kl_nondominant"])
