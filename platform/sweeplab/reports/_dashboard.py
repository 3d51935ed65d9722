"""`sweeplab dashboard`: one self-contained HTML page per sweep.

The page works offline (plotly's JavaScript is embedded once, no CDN), is written to
``<workspace>/dashboards/<sweep>.html`` and logged as an artifact of the sweep's parent run
(``dashboard/<sweep>.html``), so the MLflow UI shows it next to the runs.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeplab.analysis import distinguishable
from sweeplab.errors import UserError
from sweeplab.reports import _dashboard_figures as figs
from sweeplab.reports._dashboard_curves import Curve, load_curves
from sweeplab.reports._dashboard_trials import SweepTrials, load_sweep
from sweeplab.reports._lineage import (
    chain_rows,
    error_interval,
    lineage_of,
    split_sizes,
    sweep_advice,
)
from sweeplab.space import ONE_MINUS_SUFFIX, Constant
from sweeplab.tracking import client_for
from sweeplab.tuning import load_sweep_study
from sweeplab.workspace import Workspace

__all__ = ["Dashboard", "MIN_TRIALS_FOR_IMPORTANCE", "build_dashboard", "param_importances"]

MIN_TRIALS_FOR_IMPORTANCE = 4
"""fANOVA fits a random forest to the finished trials: with fewer it says nothing."""

TEMPLATE = "sweep.html.j2"


@dataclass
class Dashboard:
    path: Path
    sweep: str
    figures: list[str]  # the div ids, in page order
    notes: list[str] = field(default_factory=list)
    artifact: str | None = None  # artifact path on the parent run, when logged


def templates_dir() -> Path:
    """``dashboards/`` at the repository root (beside ``platform/``)."""
    return Path(__file__).resolve().parents[3] / "dashboards"


def param_importances(
    sweep: SweepTrials, workspace: Path
) -> tuple[dict[str, dict[str, float]], str | None]:
    """({evaluator: importances by user-facing name}, a note) from the sweep's Optuna study.

    Two evaluators, side by side, since they answer different questions and can rank the
    parameters differently: ``fANOVA`` (Optuna's default: each parameter's share of the
    objective's variance over the whole space, a random forest fitted on every finished trial)
    and ``PED-ANOVA`` (what optuna-dashboard shows: how much the parameter's distribution in
    the best 10 % of the trials differs from the whole).

    The study's own names are used by Optuna (``beta__1m`` = 1 − β); they are shown as the
    user's name. Conditional parameters are left out by Optuna when they were not active in
    every finished trial; the note says so.
    """
    study = load_sweep_study(workspace, sweep.name)
    if study is None:
        return {}, (
            "no Optuna study for this sweep (Ray Tune backend): parameter importance needs "
            "the sweep's Optuna study"
        )
    from optuna.importance import (
        FanovaImportanceEvaluator,
        PedAnovaImportanceEvaluator,
        get_param_importances,
    )
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        return {}, (
            f"parameter importance needs at least {MIN_TRIALS_FOR_IMPORTANCE} finished trials; "
            f"this sweep has {len(complete)}"
        )
    varied = [p for p in sweep.space if not isinstance(p.distribution, Constant)]
    evaluators = {
        "fANOVA": FanovaImportanceEvaluator(seed=0),
        "PED-ANOVA": PedAnovaImportanceEvaluator(),
    }
    out: dict[str, dict[str, float]] = {}
    failed = []
    for label, evaluator in evaluators.items():
        try:
            raw = get_param_importances(study, evaluator=evaluator)
        except (ValueError, RuntimeError) as exc:
            failed.append(f"{label}: {exc}")
            continue
        out[label] = {k.removesuffix(ONE_MINUS_SUFFIX): float(v) for k, v in raw.items()}
    if not out:
        return {}, f"parameter importance could not be computed: {'; '.join(failed)}"
    shown = set().union(*out.values())
    left_out = [p.name for p in varied if p.name not in shown and p.when]
    note = None
    if left_out:
        note = f"left out (conditional, not active in every finished trial): {', '.join(left_out)}"
    if len(complete) < 10:
        note = (note + "; " if note else "") + (f"rough: only {len(complete)} finished trials")
    if failed:
        note = (note + "; " if note else "") + f"not computed: {'; '.join(failed)}"
    return out, note


def _table(sweep: SweepTrials, top: int) -> dict[str, Any]:
    """The best trials with each satisficing constraint marked (✓ holds / ✗ broken)."""
    metric_cols = [sweep.objective] + [
        m for m in ("train_error", "train_dev_error", "dev_error") if m != sweep.objective
    ]
    params = [p for p in sweep.space.names]
    # the objective's 95 % interval, where it is an error rate on a set of logged size
    n = split_sizes(sweep.parent_params).get(sweep.objective.removesuffix("_error"))
    if not sweep.objective.endswith("_error"):
        n = None
    first = sweep.top_feasible(1)
    best = first[0].value(sweep.objective) if first else None
    rows = []
    for rank, t in enumerate(sweep.trials[:top], start=1):
        checks = []
        for c in sweep.constraints:
            value = t.metrics.get(c.metric, math.nan)
            ok = c.satisfied(value)
            checks.append({"text": f"{value:.3g}" if math.isfinite(value) else "–", "ok": ok})
        rows.append(
            {
                "rank": rank,
                "number": t.number,
                "status": t.status,
                "group": figs.group_of(t, sweep.objective),
                "feasible": t.feasible,
                "metrics": [
                    f"{v:.4f}" if math.isfinite(v := t.value(m)) else "–" for m in metric_cols
                ],
                "checks": checks,
                "params": [_fmt(t.params[p]) if p in t.params else "" for p in params],
                "run_id": t.run_id,
                "reason": t.reason or "",
                **_noise_cells(t.value(sweep.objective), n, best),
            }
        )
    return {
        "metric_cols": metric_cols,
        "constraints": [str(c) for c in sweep.constraints],
        "params": params,
        "rows": rows,
        "ci": bool(n),
        "dev_n": n,
    }


def _noise_cells(value: float, n: int | None, best: float | None) -> dict[str, Any]:
    ci = error_interval(value, n) if math.isfinite(value) else None
    if ci is None:
        return {"ci": "–", "within_noise": False}
    within = best is not None and value != best and not distinguishable(value, best, n)
    return {"ci": f"[{ci.low:.4f}, {ci.high:.4f}]", "within_noise": within}


def _epochs_run(trial: Any) -> int | None:
    """The trial's last epoch: a later step holds the restored best epoch's figures again."""
    value = trial.metrics.get("epochs_run")
    return int(value) if value is not None and math.isfinite(value) else None


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e-2 or abs(v) >= 1e4 else f"{v:.4g}"
    return str(v)


def build_dashboard(
    sweep: str | None = None,
    *,
    workspace: Path | None = None,
    tracking_uri: str | None = None,
    top: int = 5,
    smoothing: float = 0.6,
    output: Path | None = None,
    log_artifact: bool = True,
) -> Dashboard:
    """Render the dashboard of ``sweep`` (default: the last one) and log it to MLflow."""
    import jinja2
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    if not 0 <= smoothing < 1:
        raise UserError(f"`0 <= smoothing < 1` must hold, but got (smoothing={smoothing!r})")
    ws = Workspace.at(workspace)
    data = load_sweep(sweep, workspace=ws.root, tracking_uri=tracking_uri)
    client = client_for(tracking_uri or data.info["tracking_uri"])
    notes: list[str] = []
    sections: list[dict[str, Any]] = []

    def add(section: str, div_id: str, fig: Any, note: str | None = None) -> None:
        html = pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )
        sections.append({"section": section, "id": div_id, "html": html, "note": note})

    for name in data.space.names:
        fig = figs.param_figure(data, name)
        if fig is not None:
            add("params", f"param-{name}", fig)
    parallel = figs.parallel_figure(data)
    if parallel is not None:
        add("parallel", "parallel", parallel)
    else:
        notes.append("no finished trial yet: no parallel coordinates")

    best = data.top_feasible(top)
    curves: dict[int, list[Curve]] = {
        t.number: load_curves(client, t.run_id, t.number, last_epoch=_epochs_run(t)) for t in best
    }
    if curves:
        add("curves", "curves", figs.curves_figure(curves, beta=smoothing))
    else:
        notes.append("no finished trial that satisfies every constraint: no learning curves")

    importances, note = param_importances(data, ws.root)
    if importances:
        add("importance", "importance", figs.importance_figure(importances), note)
    importance_note = None if importances else note

    counts: dict[str, int] = {}
    for t in data.trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    best_row = best[0] if best else None
    chain = lineage_of(data, workspace=ws.root, tracking_uri=tracking_uri)
    advice = sweep_advice(data, chain[-2] if len(chain) > 1 else None)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    html = env.get_template(TEMPLATE).render(
        sweep=data,
        info=data.info,
        counts=counts,
        best=best_row,
        best_value=best_row.value(data.objective) if best_row else None,
        sections=sections,
        importance_note=importance_note,
        notes=notes,
        table=_table(data, max(top, 10)),
        lineage=chain_rows(chain) if len(chain) > 1 else [],
        advice=advice.text() if advice is not None else None,
        plotly_js=get_plotlyjs(),
        created=_dt.datetime.now().isoformat(timespec="seconds"),
        top=top,
        smoothing=smoothing,
    )
    path = output or ws.root / "dashboards" / f"{data.name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    artifact = None
    if log_artifact:
        client.log_artifact(data.info["parent_run_id"], str(path), artifact_path="dashboard")
        artifact = f"dashboard/{path.name}"
    return Dashboard(
        path=path,
        sweep=data.name,
        figures=[s["id"] for s in sections],
        notes=notes + ([importance_note] if importance_note else []),
        artifact=artifact,
    )
