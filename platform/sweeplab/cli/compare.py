"""`sweeplab compare`: two runs side by side — the params that differ, every metric.

A run is named by its MLflow run id (as `sweeplab runs --json` and the MLflow UI show it) or
as ``SWEEP#N``, trial N of sweep SWEEP (``last#N``: of the workspace's last sweep). In a
shell, ``#`` only starts a comment at the beginning of a word, so ``coarse#3`` needs no quotes.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from sweeplab.cli._app import app
from sweeplab.cli._common import TrackingOpt, WorkspaceOpt, fmt_value
from sweeplab.cli._common import console as make_console

__all__ = ["compare", "RunRef", "resolve_run"]

_TRIAL_REF = re.compile(r"^(?P<sweep>[^#\s]+)#(?P<number>\d+)$")


@dataclass
class RunRef:
    """A resolved run: what the user wrote, and the run's name, status, params and metrics."""

    ref: str
    run_id: str
    name: str
    status: str
    params: dict[str, str]
    metrics: dict[str, float]
    sizes: dict[str, int] = field(default_factory=dict)  # examples per set, as the sweep logged


def resolve_run(ref: str, *, workspace: Path | None, tracking_uri: str | None) -> RunRef:
    """``SWEEP#N`` or a run id → :class:`RunRef`. Raises ``UserError`` with what exists."""
    from sweeplab.errors import UserError
    from sweeplab.tracking import TAG, client_for
    from sweeplab.workspace import Workspace

    ws = Workspace.at(workspace)
    m = _TRIAL_REF.match(ref.strip())
    if m:
        sweep = ws.last_sweep() if m["sweep"] == "last" else m["sweep"]
        info = ws.read_sweep(sweep)
        client = client_for(tracking_uri or info["tracking_uri"])
        runs = client.search_runs(
            [info["experiment_id"]],
            filter_string=(
                f"tags.`{TAG['parent']}` = '{info['parent_run_id']}' "
                f"and tags.`{TAG['trial']}` = '{int(m['number'])}'"
            ),
            max_results=5,
        )
        if not runs:
            from sweeplab.tracking import sweep_trials

            numbers = sorted(
                t["number"]
                for t in sweep_trials(client, info["experiment_id"], info["parent_run_id"])
            )
            shown = ", ".join(map(str, numbers[:30])) + (" …" if len(numbers) > 30 else "")
            raise UserError(
                f"{ref}: sweep {sweep!r} has no trial {int(m['number'])}; "
                f"its trials: {shown or 'none yet'}"
            )
        # a resumed sweep may hold an interrupted run and its re-run: the latest wins
        run = max(runs, key=lambda r: r.info.start_time or 0)
    else:
        if not re.fullmatch(r"[0-9a-f]{16,64}", ref.strip()):
            raise UserError(
                f"{ref!r} is neither a run id (32 hex digits) nor a trial reference SWEEP#N "
                "(e.g. coarse#3, or last#3 for the last sweep)"
            )
        client, run = _run_by_id(ref.strip(), ws, tracking_uri)
    tags = run.data.tags
    status = tags.get(TAG["status"]) or run.info.status.lower()
    return RunRef(
        ref=ref,
        run_id=run.info.run_id,
        name=run.info.run_name or run.info.run_id,
        status=status,
        params=dict(run.data.params),
        metrics={k: float(v) for k, v in run.data.metrics.items()},
        sizes=_set_sizes(client, tags.get(TAG["parent"])),
    )


def _set_sizes(client, parent_id: str | None) -> dict[str, int]:
    """The sets' sizes the run's sweep logged on its parent run ({} where unknown)."""
    from mlflow.exceptions import MlflowException

    from sweeplab.reports._lineage import split_sizes

    if not parent_id:
        return {}
    try:
        return split_sizes(client.get_run(parent_id).data.params)
    except MlflowException:
        return {}


def _run_by_id(run_id: str, ws, tracking_uri: str | None):
    """The run in ``tracking_uri``, else in the workspace's store or any store its sweeps use."""
    from mlflow.exceptions import MlflowException

    from sweeplab.errors import UserError
    from sweeplab.tracking import client_for, default_tracking_uri

    uris = [tracking_uri] if tracking_uri else []
    if not tracking_uri:
        if (ws.root / "mlflow.db").is_file():  # never create a store by looking into it
            uris.append(default_tracking_uri(ws.root))
        for name in ws.sweeps():
            uri = ws.read_sweep(name).get("tracking_uri")
            if uri and uri not in uris:
                uris.append(uri)
    for uri in uris:
        try:
            client = client_for(uri)
            return client, client.get_run(run_id)
        except MlflowException:
            continue
    raise UserError(
        f"no run with id {run_id!r} in the tracking store(s) {', '.join(uris) or 'none'} "
        f"of the workspace {ws.root}"
    )


def _aligned(params: dict[str, str], other: dict[str, str]) -> dict[str, str]:
    """``params`` with the keys ``other`` uses: runs of older sweeps logged their sampled
    settings unprefixed (``learning_rate``), today's under their group (``train.learning_rate``)."""
    from sweeplab.tracking import GROUP_PREFIXES

    out = {}
    for key, value in params.items():
        keyed = [g + key for g in GROUP_PREFIXES if g + key in other]
        out[keyed[0] if len(keyed) == 1 and key not in other else key] = value
    return out


def _num(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _same(a: str | None, b: str | None) -> bool:
    if a == b:
        return True
    x, y = _num(a), _num(b)
    return isinstance(x, float) and isinstance(y, float) and x == y


@app.command(
    epilog=(
        "Examples: sweeplab compare coarse#3 coarse-refined#0   |   "
        "sweeplab compare 6f1c…e2 last#7 --json   (SWEEP#N is trial N of SWEEP; last#N of "
        "the last sweep; or give an MLflow run id)"
    )
)
def compare(
    run_a: str = typer.Argument(
        ..., help="A run id, or SWEEP#N (trial N of SWEEP; last#N: the last sweep)."
    ),
    run_b: str = typer.Argument(..., help="The other run, in the same forms."),
    show_all: bool = typer.Option(False, "--all", help="Show the params that are equal too."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
    workspace: Path | None = WorkspaceOpt,
    tracking_uri: str | None = TrackingOpt,
) -> None:
    """Compare two runs: the params that differ and the metrics side by side.

    A parameter one of them does not have shows as –; metrics get the difference B − A, and
    an error rate says whether that difference is beyond noise (95 % interval from the
    sizes of the sets the runs' sweeps logged) or within it.
    """
    a = resolve_run(run_a, workspace=workspace, tracking_uri=tracking_uri)
    b = resolve_run(run_b, workspace=workspace, tracking_uri=tracking_uri)
    a.params, b.params = _aligned(a.params, b.params), _aligned(b.params, a.params)
    names = sorted(set(a.params) | set(b.params))
    differ = [p for p in names if not _same(a.params.get(p), b.params.get(p))]
    shown = names if show_all else differ
    metrics = sorted(set(a.metrics) | set(b.metrics))

    def noise(m: str) -> str | None:
        """For an error rate on a set of known size: is B − A beyond noise (95 %)?"""
        from sweeplab.analysis import distinguishable

        x, y = a.metrics.get(m), b.metrics.get(m)
        split = m.removesuffix("_error") if m.endswith("_error") else None
        na, nb = a.sizes.get(split or ""), b.sizes.get(split or "")
        if delta(m) is None or not (na and nb) or not (0 <= x <= 1 and 0 <= y <= 1):
            return None
        return "beyond noise" if distinguishable(y, x, nb, n_b=na) else "within noise"

    def delta(m: str) -> float | None:
        x, y = a.metrics.get(m), b.metrics.get(m)
        if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
            return None
        return y - x

    if as_json:
        out = {
            "a": {"ref": a.ref, "run_id": a.run_id, "name": a.name, "status": a.status},
            "b": {"ref": b.ref, "run_id": b.run_id, "name": b.name, "status": b.status},
            "params": {p: {"a": a.params.get(p), "b": b.params.get(p)} for p in shown},
            "params_differ": differ,
            "metrics": {
                m: {
                    "a": a.metrics.get(m),
                    "b": b.metrics.get(m),
                    "delta": delta(m),
                    "noise": noise(m),
                }
                for m in metrics
            },
        }
        typer.echo(json.dumps(out, indent=2))
        return
    from rich.table import Table

    console = make_console()
    head_a, head_b = (
        f"{x}: {r if len(r) <= 20 else r[:8] + '…'}" for x, r in (("A", a.ref), ("B", b.ref))
    )
    console.print(f"A = {a.name} ({a.status}, run {a.run_id})")
    console.print(f"B = {b.name} ({b.status}, run {b.run_id})")
    title = "params" if show_all else f"params that differ ({len(differ)} of {len(names)})"
    ptable = Table(title=title)
    for col in ("param", head_a, head_b):
        ptable.add_column(col, justify="left" if col == "param" else "right")
    for p in shown:
        style = "bold" if p in differ else None
        ptable.add_row(p, _show(a.params.get(p)), _show(b.params.get(p)), style=style)
    if shown:
        console.print(ptable)
    else:
        console.print("the two runs have the same params")
    mtable = Table(title="metrics (latest values)")
    for col in ("metric", head_a, head_b, "B − A"):
        mtable.add_column(col, justify="left" if col == "metric" else "right")
    for m in metrics:
        d = delta(m)
        mtable.add_row(
            m,
            _show(a.metrics.get(m)),
            _show(b.metrics.get(m)),
            ("–" if d is None else (("+" if d > 0 else "") + fmt_value(d)))
            + (f" ({noise(m)})" if noise(m) else ""),
        )
    console.print(mtable)


def _show(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        v = _num(value)
        return fmt_value(v) if isinstance(v, float) and not v.is_integer() else value
    return fmt_value(value)
