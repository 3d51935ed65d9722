"""`sweeplab runs`: the trials of a sweep as a table, best first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from sweeplab.cli._app import app
from sweeplab.cli._common import TrackingOpt, WorkspaceOpt
from sweeplab.cli._common import console as make_console

__all__ = ["runs", "metric_columns"]


@app.command(
    epilog="Example: sweeplab runs --top 10   |   sweeplab runs digits-mlp-20261126-091200 --csv > trials.csv"
)
def runs(
    sweep: str | None = typer.Argument(
        None, help="Sweep name (default: the last sweep in the workspace)."
    ),
    top: int | None = typer.Option(None, "--top", "-k", min=1, help="Show only the best K trials."),
    csv: bool = typer.Option(False, "--csv", help="Print the table as CSV (for pandas)."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON."),
    wide: bool = typer.Option(
        False,
        "--wide",
        help="Also the per-label / per-class columns: dev_error_<label> (multilabel), "
        "dev_ap_<class> (detection), dev_iou_<class> (segmentation).",
    ),
    lineage: bool = typer.Option(
        False,
        "--lineage",
        help="Show the chain of sweeps this one comes from (`sweeplab next` / `refine`), "
        "each with its best error and 95 % interval, instead of the trials.",
    ),
    workspace: Path | None = WorkspaceOpt,
    tracking_uri: str | None = TrackingOpt,
) -> None:
    """List a sweep's trials, best first: finished trials that satisfy every constraint by the
    optimizing metric, then those that break a constraint, then pruned and failed ones. An
    error metric shows its 95 % (Wilson) interval from the set's size; trials whose error is
    not distinguishable from the best one are marked "within noise of best"."""
    from sweeplab.errors import UserError
    from sweeplab.tracking import load_sweep_table

    if csv and as_json:
        raise UserError("--csv and --json exclude each other; choose one")
    if lineage:
        from sweeplab.cli._lineage_table import print_lineage

        print_lineage(sweep, workspace, tracking_uri, csv=csv, as_json=as_json)
        return
    info, ranked = load_sweep_table(sweep, workspace, tracking_uri)
    if top:
        ranked = ranked[:top]
    metric = info["objective"]
    # the sampled settings, by their search-space names (MLflow's keys: train.<name>, …)
    param_names = list(dict.fromkeys(p for t in ranked for p in t["params"]))
    metric_cols = metric_columns(
        metric, [t["metrics"] for t in ranked], info.get("columns", {}), wide=wide
    )
    rows = []
    for rank, t in enumerate(ranked, 1):
        row = {"rank": rank, "trial": t["number"], "status": t["status"], "feasible": t["feasible"]}
        row.update({m: t["metrics"].get(m) for m in metric_cols})
        row.update({p: t["params"].get(p) for p in param_names})
        row.update(
            {
                "diagnosis": t["diagnosis"],
                "reason": t["reason"],
                "duration_s": round(t["duration_s"], 2),
                "run_id": t["run_id"],
            }
        )
        rows.append(row)
    add_noise_columns(rows, metric, info)
    if csv:
        import pandas as pd

        from sweeplab.analysis import spreadsheet_csv

        typer.echo(spreadsheet_csv(pd.DataFrame(rows)), nl=False)
        return
    if as_json:
        typer.echo(
            json.dumps(
                {"sweep": info["name"], "objective": metric, "goal": info["goal"], "trials": rows},
                indent=2,
                default=str,
            )
        )
        return
    from rich.text import Text

    from sweeplab.cli._runs_table import render_runs_table

    out = make_console()
    title = f"sweep {info['name']}: {len(rows)} trials, best first by {metric} ({info['goal']})"
    for line, best in render_runs_table(title, rows, metric_cols, param_names, width=out.width):
        out.print(Text(line, style="bold green" if best else ""), soft_wrap=True)


_BASE = ("train_error", "train_dev_error", "dev_error", "params_count", "latency_ms")


def metric_columns(
    objective: str,
    metrics: list[dict[str, float]],
    columns: dict[str, Any],
    *,
    wide: bool = False,
) -> list[str]:
    """The objective, the task's summary metric, the errors the trials have, size and speed;
    with ``wide`` the per-label / per-class metrics too (``columns``: what the sweep recorded
    of its task in sweep.json). A column no trial logged is left out (a vision task has no
    train-dev error; style transfer no dev error) unless no trial has finished yet."""
    logged = {k for m in metrics for k in m}
    summary = columns.get("summary")
    headline = [summary] if summary in logged else []
    cols = [objective] + [m for m in (*headline, *_BASE) if m != objective]
    if logged:
        cols = [c for c in cols if c == objective or c in logged]
    if wide:
        per_class = tuple(columns.get("per_class", ()))
        extra = sorted(k for k in logged if per_class and k.startswith(per_class) and k not in cols)
        cols += extra
    return cols


def add_noise_columns(rows: list[dict], metric: str, info: dict) -> bool:
    """``<metric>_ci_low`` / ``_ci_high`` (Wilson 95 %) and ``within_noise_of_best`` on each row,
    where ``metric`` is an error rate of a set whose size the sweep logged; False otherwise."""
    from sweeplab.analysis import distinguishable
    from sweeplab.reports._lineage import error_interval, split_sizes

    n = split_sizes(info).get(metric.removesuffix("_error")) if metric.endswith("_error") else None
    if not n:
        return False
    best = next((r[metric] for r in rows if r["feasible"] and r[metric] is not None), None)
    for r in rows:
        ci = error_interval(r[metric], n)
        r[f"{metric}_ci_low"], r[f"{metric}_ci_high"] = (ci.low, ci.high) if ci else (None, None)
        r["within_noise_of_best"] = (
            ci is not None and best is not None and not distinguishable(r[metric], best, n)
        )
    return True
