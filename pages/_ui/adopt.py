"""A saved run's configuration back into a page's controls: when the run on view changes (a deep link, Open,
Start), the Train page's controls (`adopt_run`) or the Ablation page's (`adopt_study`) are set to that run's
configuration, so that the controls describe what is shown and Start would repeat it. Call before the sidebar
is drawn."""
from __future__ import annotations

from typing import Any

import streamlit as st

from ildl import data as D
from pages._ui import common as ui
from pages._ui.state import DATASETS, PROTOCOLS, SIDEBAR_TASK, state


def adopt_run(page: str) -> None:
    """When the run on view changes (a deep link, Open, Start), set the Train page's controls to that run's
    configuration, so that the controls describe the run shown. Call before the sidebar is drawn."""
    from ildl import tasks
    from ildl.compare import trained_method
    from ildl.methods import parse

    s, ss = state(), st.session_state
    rid = s.get("run")
    if not rid:
        return
    again = ss.get("_adopted_run") == rid
    if again and f"{page}_pace" in ss:
        return
    # `again`: the reader left the page and came back — Streamlit dropped the page's widget values, so only
    # those are set from the run again (the sidebar and the method keep what the reader chose meanwhile)
    ss["_adopted_run"] = rid
    cfg = _run_config(rid)
    if cfg is None or cfg.get("study"):
        return
    task = cfg.get("task", SIDEBAR_TASK)
    name = trained_method(cfg)
    try:
        spec = parse(name, task)
    except ValueError:
        return
    if spec.constant:
        return
    if again:
        _adopt_controls(page, cfg, task, spec)
        return
    pending = ss.setdefault("_pending_choice", {})
    s["task"] = ss[f"{page}_task"] = task
    if task == SIDEBAR_TASK:
        s["method"] = pending[f"{page}_sb_method"] = spec.base
        _adopt_data(page, cfg, pending)
    else:
        ss[f"{page}_{task}_method"] = spec.base
        ss[f"{page}_{task}_data"] = cfg.get("dataset")
        for p in tasks.get(task).options:
            if p.name in cfg:
                ss[f"{page}_{task}_{p.name}"] = cfg[p.name]
    schema = {p.name for p in spec.entry.schema()}
    given = (cfg.get("settings") or {}).get(name, {})
    ss.setdefault("settings", {})[f"{task}:{spec.base}"] = {k: v for k, v in given.items() if k in schema}
    ss["train_nonce"] = ss.get("train_nonce", 0) + 1  # parameter widgets are re-created with these values
    _adopt_controls(page, cfg, task, spec)
    ss["_url_params_read"] = True  # the run's settings, not the link's p_ values, fill the widgets


def _adopt_controls(page: str, cfg: dict[str, Any], task: str, spec) -> None:
    """The Train page's own controls (folds, seed, diagnostic, pace, rule, prior corrections) from a run config."""
    ss = st.session_state
    ss[f"{page}_folds_{task}"] = list(cfg.get("fold_ids") or [0])
    ss[f"{page}_seed"] = int(cfg.get("seed", 0))
    ss[f"{page}_diag"] = bool(cfg.get("diagnostic"))
    ss[f"{page}_pace"] = float(cfg.get("pace") or 0.0)
    if task == SIDEBAR_TASK:
        ss[f"{page}_pc"], ss[f"{page}_la"], ss[f"{page}_shrink"] = spec.pc, spec.la, spec.shrink
        ss[f"{page}_shrink_form"] = cfg.get("shrink_form", "linear")
        ss[f"{page}_val_split"] = cfg.get("val_split", "random")
        if cfg.get("select"):
            ss[f"{page}_select"] = cfg["select"][0]


def _adopt_data(page: str, cfg: dict[str, Any], pending: dict[str, Any]) -> None:
    """The sidebar's dataset (and generator settings) and protocol from a run config (uploads cannot be restored)."""
    s = state()
    if not str(cfg.get("dataset", "")).startswith("upload:") and cfg.get("dataset") in DATASETS:
        s["dataset"] = pending[f"{page}_sb_dataset"] = cfg["dataset"]
        if cfg["dataset"] == "synthetic":
            s["syn"] = {**D.SYNTHETIC_DEFAULTS, **(cfg.get("dataset_kw") or {})}
    if cfg.get("protocol") in PROTOCOLS:
        s["protocol"] = pending[f"{page}_sb_protocol"] = cfg["protocol"]


def _run_config(run_id: str) -> dict[str, Any] | None:
    """A run's config, live from its job or from disk (None when it is gone or damaged)."""
    try:
        job = ui.registry().get(run_id)
        return job.config if job is not None else ui.registry().store.config(run_id)
    except (OSError, ValueError):
        return None


def adopt_study(page: str) -> None:
    """When the study on view changes (a link with study_run=…, Open), set the Ablation page's controls — study,
    dataset, protocol, folds, seed, epochs, chunk — to that study's run config, so Start would repeat it and
    the heading names what the table shows. Call before the sidebar is drawn."""
    from ildl import studies
    from ildl.tasks import get as get_task

    s, ss = state(), st.session_state
    rid = s.get("study_run")
    if not rid or ss.get("_adopted_study") == rid:
        return
    ss["_adopted_study"] = rid
    cfg = _run_config(rid)
    if not isinstance(cfg, dict) or cfg.get("study") not in studies.STUDIES:
        return
    study = studies.STUDIES[cfg["study"]]
    task = study.task
    ss[f"{page}_study"] = ss[f"_last_{page}_study"] = cfg["study"]
    pending = ss.setdefault("_pending_choice", {})
    if task == SIDEBAR_TASK:
        _adopt_data(page, cfg, pending)
    elif cfg.get("dataset") in get_task(task).datasets:
        ss[f"{page}_data_{task}"] = cfg["dataset"]
    ss[f"{page}_folds_{task}"] = list(cfg.get("fold_ids") or range(int(cfg.get("folds") or 1)))
    ss[f"{page}_seed"] = int(cfg.get("seed", 0))
    ss[f"{page}_epochs"] = int(((cfg.get("settings") or {}).get("*") or {}).get("epochs", 0) or 0)
    if cfg.get("chunk_folds"):
        ss[f"{page}_chunk"] = int(cfg["chunk_folds"])
