"""Background runs on a page: one panel for every page that trains (Train, Ablation, Soft labels, Label shift,
the decoupling regime, the papers' table).

  submit(cfg)            a checked config becomes a queued job of this browser (its id, or the reason shown)
  buttons(page, view)    ▶ Start and Stop for the run on view (Stop: its owner only)
  session_run(slot, cfg) the run of this session for a config (coming back to a config reopens its run)
  watch(run_id, body)    body(view) re-drawn while the run trains (a fragment), once more when it ends

The worker never calls `st.*`; these helpers only read the job's view (live from memory, else from disk).
"""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from ildl.runs import dumps
from pages._ui import common as ui

LIVE = ("queued", "running")


def is_live(v: dict[str, Any] | None) -> bool:
    """Whether a view is of a run training in this server now."""
    return bool(v and v.get("live") and v["status"] in LIVE)


def peek(run_id: str | None) -> dict[str, Any] | None:
    """A run's view without any message (None when there is no such run or it cannot be read): for a button's
    state before the run is drawn."""
    if not run_id:
        return None
    try:
        return ui.registry().view(run_id)
    except Exception:  # noqa: BLE001 — whatever is on disk; `watch` says what is wrong
        return None


def submit(cfg: dict[str, Any], *, dataset: Any = None, what: str = "the run") -> str | None:
    """Queue `cfg` for this browser; its run id, or None with the reason shown (no runs folder, the budget, this
    visitor's queue, a bad value)."""
    if ui.store_problem():
        return None
    with ui.friendly_errors(f"Starting {what}"):
        return ui.registry().submit(cfg, dataset=dataset, owner=ui.owner()).id
    return None


def stop(run_id: str, wait: float = 2.0) -> bool:
    """Stop a run of this browser (False when it is not this browser's or not running here)."""
    reg = ui.registry()
    if not reg.stop(run_id, ui.owner()):
        return False
    job = reg.get(run_id)
    if job is not None:
        job.join(wait)
    return True


def buttons(page: str, view: dict[str, Any] | None, *, can_start: bool = True, start_label: str = "▶ Start",
            columns=None) -> bool:
    """▶ Start (off while the run on view trains) and Stop (its owner only; stops and redraws); True when Start
    was pressed."""
    cols = columns if columns is not None else st.columns([1, 1, 6])
    running = is_live(view)
    mine = bool(view) and ui.registry().may_control(view["id"], ui.owner())
    start = cols[0].button(start_label, type="primary", disabled=running or not can_start or ui.store_problem(),
                           key=f"{page}_start")
    if cols[1].button("Stop", icon=":material/stop:", disabled=not running or not mine, key=f"{page}_stop",
                      help=None if mine or not running else "only the browser that started this run may stop it"):
        stop(view["id"])
        st.rerun()
    return bool(start) and not running  # a click queued before the button went grey starts nothing


def progress(v: dict[str, Any], what: str = "Run") -> None:
    """The run's status line: status, share done, time left, its place in the queue, the device."""
    eta = f" · about {v['eta']:.0f} s left" if v.get("eta") else ""
    reg = ui.registry()
    queue = ""
    if v["status"] == "queued" and reg.get(v["id"]) is not None:
        queue = f" · waiting for a free slot ({reg.max_running} run{'s' if reg.max_running > 1 else ''} at a time)"
    where = next((e["device"] for e in v.get("events", ()) if e.get("type") == "start"), None)
    st.progress(v["progress"], text=f"{what} `{v['id']}` — **{v['status']}** · {v['progress']:.0%}{eta}{queue}"
                                    + (f" · device {where}" if where else ""))
    if v["status"] in LIVE and not v.get("live"):
        st.caption("This run is not running in this server any more.")


def watch(run_id: str, body: Callable[[dict[str, Any]], None], *, every: float = 1.0, what: str | None = "Run",
          errors: bool = True) -> dict[str, Any] | None:
    """Draw `body(view)` for a run; while it trains, again every `every` seconds (a fragment: only this part of
    the page reruns), and the whole page once when it ends (the timer goes, Start comes back). With `what` the
    status line comes first; with `errors` a failure is said above the body. Returns the first view (None
    when the run has gone or is damaged, said)."""
    first = run_view(run_id)
    if first is None:
        return None
    live = is_live(first)

    @st.fragment(run_every=every if live else None)
    def show() -> None:
        v = run_view(run_id)
        if v is None:
            return
        if live and not is_live(v):
            st.rerun()  # finished: one full redraw, without the timer
        if what:
            progress(v, what)
        if errors and v.get("error"):
            st.error(f"The run {v['status']}: {v['error']}. The app is still usable; change the settings and "
                     "start again.")
        elif errors and v["status"] in ("stopped", "interrupted"):
            st.warning(f"The run was {v['status']} before it finished; what finished is shown.")
        body(v)

    show()
    return first


def _runs(slot: str) -> dict[str, str]:
    return st.session_state.setdefault(f"{slot}_runs", {})  # config → run id


def session_run(slot: str, cfg: dict[str, Any], *, start: bool = False, auto: bool = False,
                url_key: str | None = None, dataset: Any = None, what: str = "the run",
                replace: bool = False) -> str | None:
    """The run of this browser session for `cfg` in `slot` (one per config: a config seen before reopens its
    run; `url_key` keeps it in the URL, so a refresh or a link finds it). A new run starts when `start` (a
    button) and none trains for this config, or with `auto` when this config has none yet; `replace` first stops
    this slot's other runs still training (the reader moved on)."""
    runs, key = _runs(slot), dumps(cfg)
    if url_key and key not in runs and st.query_params.get(url_key):
        runs[key] = st.query_params[url_key]
    job = ui.registry().get(runs.get(key))
    if (start and not (job is not None and job.running)) or (auto and key not in runs):
        if replace:
            for old in [r for k, r in runs.items() if k != key]:
                stop(old)
        rid = submit(cfg, dataset=dataset, what=what)
        if rid is not None:
            runs[key] = rid
    rid = runs.get(key)
    if url_key and rid:
        st.query_params[url_key] = rid
    return rid


def start_button(label: str, key: str, slot: str, cfg: dict[str, Any], **kw: Any) -> str | None:
    """A button that starts this session's run for `cfg` (`session_run`), off while that run trains; a click
    that starts one redraws the page at once (the button greyed). Returns the run id on view, if any."""
    busy = is_live(peek(session_run(slot, cfg, **kw)))
    start = st.button(label, key=key, disabled=busy or ui.store_problem())
    run_id = session_run(slot, cfg, start=start and not busy, **kw)  # a click queued before the button went grey
    if start and is_live(peek(run_id)):
        st.rerun()
    return run_id


def forget(slot: str, cfg: dict[str, Any]) -> None:
    """Drop the session's run for `cfg` (it ended badly; the next visit starts again)."""
    _runs(slot).pop(dumps(cfg), None)


def run_view(run_id: str) -> dict[str, Any] | None:
    """A run's view (live or from disk) for a polling fragment; a message when it has gone or is damaged."""
    try:
        v = ui.registry().view(run_id)
    except Exception as e:  # noqa: BLE001 — whatever is on disk, the page stays up
        v = dict(id=run_id, status="damaged", error=f"{type(e).__name__}: {e}", config=None)
    if v is None:
        st.warning(f"Run {run_id} is not here any more.")
    elif v["status"] == "damaged":
        st.error(f"Run {run_id} is damaged ({v.get('error')}): it cannot be shown. Delete it under Saved runs.")
        return None
    return v


def saved_runs(page: str, state_key: str, studies: bool) -> None:
    """The saved-runs panel (Train: runs, Ablation: studies): open, download, delete. A damaged run is listed
    with its reason and can be deleted; only the browser that started a run may delete it."""
    from ildl.runs import dumps

    s = ui.state()
    reg = ui.registry()
    runs = [r for r in reg.store.list() if bool(r.get("study")) == studies or r.get("damaged")]
    if not runs:
        st.caption("No studies yet." if studies else "No runs yet.")
        return
    from ildl.compare import run_titles

    titles = run_titles(runs)
    st.dataframe([{"run": titles[r["id"]], "status": r["status"], "dataset": r["dataset"],
                   "study" if studies else "methods": r["study"] if studies else r["methods"],
                   "id": r["id"], "problem": r.get("damaged") or ""} for r in runs], hide_index=True,
                 height=min(300, 40 + 35 * len(runs)))
    ids = [r["id"] for r in runs]
    pick = st.selectbox("run", ids, index=ids.index(s[state_key]) if s.get(state_key) in ids else 0,
                        key=f"{page}_pick", format_func=lambda rid: f"{titles.get(rid, rid)} · {rid}")
    info = next(r for r in runs if r["id"] == pick)
    c = st.columns(4)
    if c[0].button("Open", key=f"{page}_open", disabled=bool(info.get("damaged"))):
        s[state_key] = pick
        ui.sync_url()
        st.rerun()
    if not info.get("damaged"):
        c[1].download_button("results.csv", reg.store.results_csv(pick) or "no results yet\n",
                             file_name=f"{pick}-results.csv", mime="text/csv", key=f"{page}_dl_csv")
        c[2].download_button("config.json", dumps(reg.store.config(pick)), file_name=f"{pick}-config.json",
                             mime="application/json", key=f"{page}_dl_cfg")
    live_job = reg.get(pick)
    allowed = reg.may_control(pick, ui.owner())
    if c[3].button("Delete", key=f"{page}_delete", disabled=bool(live_job and live_job.running) or not allowed,
                   help=None if allowed else "only the browser that started this run may delete it"):
        if reg.delete(pick, ui.owner()) and s.get(state_key) == pick:
            s[state_key] = None
            ui.sync_url()
        st.rerun()


def finished_runs_for(ds) -> list[dict[str, Any]]:
    """Finished runs trained on the current dataset (same name and generator settings), newest first."""
    want = ui.run_config_base(ds)
    store = ui.registry().store
    out = []
    for r in store.list():
        if r["status"] not in ("done", "stopped") or r.get("damaged"):
            continue
        try:
            cfg = store.config(r["id"])
        except (OSError, ValueError):
            continue
        if cfg.get("dataset") == want["dataset"] and (cfg.get("dataset_kw") or {}) == (want.get("dataset_kw") or {}):
            out.append(dict(r, config=cfg))
    return out


__all__ = ["LIVE", "buttons", "finished_runs_for", "forget", "is_live", "peek", "progress", "run_view", "saved_runs",
           "session_run", "start_button", "stop", "submit", "watch"]
