"""`sweeplab refine`: coarse to fine — a new sweep on a space shrunk around the best trials."""

from __future__ import annotations

from pathlib import Path

import typer

from sweeplab.cli._app import app
from sweeplab.cli._common import TrackingOpt, WorkspaceOpt, err_console, fmt_value

__all__ = [
    "refine",
    "REFINED_FROM_TAG",
    "REFINED_FILE",
    "refined_space_text",
    "run_child_sweep",
    "unused_name",
]

REFINED_FROM_TAG = "sweeplab.refined_from"
"""Tag on the new sweep's parent run: the name of the sweep it was refined from."""

REFINED_FILE = "refined.yaml"


def refined_space_text(space, *, source: str, top: int, margin: float, numbers: list[int]) -> str:
    """The refined space as YAML, with a header that says where it came from."""
    header = (
        f"# Refined from sweep {source}: the top {top} feasible finished trials "
        f"(#{', #'.join(map(str, numbers))}),\n"
        f"# each range shrunk to their span on its own scale, widened by margin {margin:g}.\n"
        "# Edit it, then run it with: sweeplab refine "
        f"{source} --space THIS_FILE --name NEW_NAME\n"
    )
    return header + space.to_yaml()


def unused_name(ws, base: str) -> str:
    name, i = base, 2
    while (ws.sweep_dir(name) / "sweep.json").exists():
        name, i = f"{base}-{i}", i + 1
    return name


@app.command(
    epilog=(
        "Examples: sweeplab refine digits-mlp-20261126-091200 --top 5 --trials 20   |   "
        "sweeplab refine coarse --top 5 --write-only   (then edit the file and: "
        "sweeplab refine coarse --space sweeplab-workspace/sweeps/coarse-refined/refined.yaml)"
    )
)
def refine(
    sweep: str = typer.Argument(..., help="The (coarse) sweep to refine."),
    top: int = typer.Option(
        5, "--top", "-k", min=1, help="Shrink the space around the best K feasible finished trials."
    ),
    trials: int | None = typer.Option(
        None,
        "--trials",
        "-n",
        min=1,
        help="Trials of the new sweep (default: as many as the old one).",
    ),
    name: str | None = typer.Option(
        None, "--name", help="Name of the new sweep (default: SWEEP-refined)."
    ),
    margin: float = typer.Option(
        0.25,
        "--margin",
        min=0.0,
        help="Widen each range by this fraction of the top trials' span on each side.",
    ),
    min_fraction: float = typer.Option(
        0.1,
        "--min-fraction",
        min=1e-6,
        max=1.0,
        help="Keep at least this fraction of each old range's width (on its scale).",
    ),
    space: Path | None = typer.Option(
        None, "--space", "-s", help="Run this (edited) refined space instead of computing one."
    ),
    write_only: bool = typer.Option(
        False, "--write-only", help="Only write the refined space YAML; do not run the sweep."
    ),
    seed: int | None = typer.Option(
        None, "--seed", min=0, help="Sampler seed (default: the old sweep's)."
    ),
    workspace: Path | None = WorkspaceOpt,
    tracking_uri: str | None = TrackingOpt,
) -> None:
    """Coarse to fine: a new sweep on the space shrunk around a sweep's best trials.

    Each range shrinks on its own scale (log ranges in log space, β in 1 − β log space;
    categorical values to those the best trials used). The space is written as YAML you can
    read and edit, then a new sweep of the same project runs on it; its parent run is tagged
    sweeplab.refined_from = SWEEP.
    """
    from sweeplab.errors import UserError
    from sweeplab.files import YAML, read_text
    from sweeplab.reports._dashboard_trials import load_sweep
    from sweeplab.space import load_space
    from sweeplab.space import refine as refine_space
    from sweeplab.workspace import Workspace, check_safe_name

    if space is not None and write_only:
        raise UserError("--space runs a space you already have; --write-only only writes one")
    ws = Workspace.at(workspace)
    old = load_sweep(sweep, workspace=ws.root, tracking_uri=tracking_uri)
    new_name = check_safe_name(name) if name else unused_name(ws, f"{old.name}-refined")
    if (ws.sweep_dir(new_name) / "sweep.json").exists():
        raise UserError(
            f"a sweep named {new_name!r} already exists in {ws.root}; choose another --name"
        )
    say = err_console()
    if space is not None:
        from sweeplab.cli._common import path_arg

        space_path = path_arg(space).resolve()
        load_space(space_path)  # a clear error now, not after the data has loaded
    else:
        best = old.top_feasible(top)
        if not best:
            raise UserError(
                f"sweep {old.name!r} has no finished trial that satisfies every constraint; "
                "nothing to refine around"
            )
        if len(best) < top:
            say.print(
                f"only {len(best)} feasible finished trials (asked for {top})", style="yellow"
            )
        try:
            refined = refine_space(
                old.space, [t.params for t in best], margin=margin, min_fraction=min_fraction
            )
        except ValueError as exc:
            raise UserError(f"cannot refine sweep {old.name!r}: {exc}") from None
        text = refined_space_text(
            refined, source=old.name, top=len(best), margin=margin, numbers=[t.number for t in best]
        )
        space_path = ws.sweep_dir(new_name) / REFINED_FILE
        if space_path.exists() and read_text(space_path, YAML) != text:
            raise UserError(
                f"{space_path} exists and differs from the space computed now (edited?); "
                f"run it as it is with --space {space_path}, or delete it"
            )
        space_path.parent.mkdir(parents=True, exist_ok=True)
        space_path.write_text(text)
        _print_changes(old.space, refined)
    typer.echo(f"refined space: {space_path}")
    if write_only:
        typer.echo(
            f"run it with: sweeplab refine {old.name} --space {space_path} --name {new_name}"
            + (f" --workspace {ws.root}" if workspace else "")
        )
        return

    outcome = run_child_sweep(
        old, "refined", space_path, name=new_name, trials=trials, seed=seed, workspace=ws.root,
        tracking_uri=tracking_uri,
    )  # fmt: skip
    from sweeplab.cli.sweep import _print_outcome

    _print_outcome(outcome)
    old_best = old.top_feasible(1)
    if old_best and outcome.best is not None:
        metric = old.objective
        typer.echo(
            f"best {metric}: {fmt_value(old_best[0].value(metric))} in {old.name} (coarse) → "
            f"{fmt_value(outcome.best.metrics[metric])} in {outcome.name} (refined)"
        )
    if outcome.stopped_reason:
        raise typer.Exit(1)


def run_child_sweep(
    old,
    link: str,
    space_path: Path,
    *,
    name: str,
    trials: int | None,
    seed: int | None,
    workspace: Path,
    tracking_uri: str | None,
    parent_tags: dict[str, str] | None = None,
    warm_start: tuple[dict, ...] = (),
):
    """Run a new sweep of ``old``'s project on ``space_path``, with ``old``'s sampler, pruner,
    backend and early stopping as it ran (`refine` and `next`); its parent run is tagged
    ``sweeplab.<link>_from`` (the old sweep's name) and ``sweeplab.<link>_from_run`` (its
    parent run), and ``parent_tags``. Returns its outcome."""
    from sweeplab.cli.sweep import _ProgressDisplay
    from sweeplab.tuning import SweepSettings, run_sweep

    # the old sweep's early stopping as it ran (older sweeps keep it in `settings` only)
    saved = {**old.info.get("settings", {}), **old.info}
    rungs = {k: int(saved[k]) for k in ("grace_period", "reduction_factor") if saved.get(k)}
    settings = SweepSettings(
        project_path=Path(old.info["project"]),
        space_path=space_path,
        trials=trials or int(old.info.get("trials") or 20),
        sampler=old.info.get("sampler"),
        pruner=old.info.get("pruner"),
        name=name,
        seed=seed if seed is not None else old.info.get("seed"),
        workspace=workspace,
        tracking_uri=tracking_uri or old.info.get("tracking_uri"),
        backend=old.info.get("backend") or "optuna",
        scheduler=saved.get("scheduler"),
        cpus_per_trial=float(saved.get("cpus_per_trial") or 1.0),
        gpus_per_trial=float(saved.get("gpus_per_trial") or 0.0),
        max_concurrent=saved.get("max_concurrent"),
        ray_address=saved.get("ray_address"),
        **rungs,
        parent_tags={
            f"sweeplab.{link}_from": old.name,
            f"sweeplab.{link}_from_run": old.info["parent_run_id"],
            **(parent_tags or {}),
        },
        warm_start=warm_start,
    )
    display = _ProgressDisplay()
    try:
        return run_sweep(settings, progress=display)
    finally:
        display.stop()


def _print_changes(old, new) -> None:
    """One line per parameter: old range → new range."""
    from rich.table import Table

    table = Table(title="refined search space")
    for col in ("parameter", "distribution", "before", "after"):
        table.add_column(col)
    for p in old:
        before = _describe(p.distribution)
        after = (
            _describe(new[p.name].distribution)
            if p.name in new
            else "dropped (its `when` can no longer hold)"
        )
        table.add_row(p.name, p.distribution.type_name, before, after)
    err_console().print(table)


def _describe(dist) -> str:
    if hasattr(dist, "low"):
        return f"[{fmt_value(dist.low)}, {fmt_value(dist.high)}]"
    if hasattr(dist, "values"):
        return ", ".join(map(str, dist.values))
    return str(dist.to_dict())
