"""`sweeplab next`: from a sweep's diagnosis to the next sweep — or to "stop tuning"."""

from __future__ import annotations

from pathlib import Path

import typer

from sweeplab.cli._app import app
from sweeplab.cli._common import TrackingOpt, WorkspaceOpt, err_console

__all__ = ["next_sweep", "NEXT_FILE", "warm_start_configs"]

NEXT_FILE = "next.yaml"


def warm_start_configs(space, top: list[dict]) -> tuple[dict, ...]:
    """The previous best configurations, each kept to the values valid in ``space`` (a value
    outside its new range, or of a parameter the space fixes, is drawn afresh); duplicates and
    configurations with nothing left are dropped."""
    from sweeplab.tuning._sequence import config_key

    out: list[dict] = []
    seen: set[tuple] = set()
    for params in top:
        kept = {k: v for k, v in params.items() if _internal_key(space, k, v)}
        key = config_key(kept)
        if kept and key not in seen:
            seen.add(key)
            out.append(kept)
    return tuple(out)


def _internal_key(space, name: str, value) -> bool:
    return name in space and bool(space.to_internal({name: value}))


@app.command(
    "next",
    epilog=(
        "Examples: sweeplab next digits-mlp-20261126-091200 --trials 15   |   "
        "sweeplab next coarse --write-only   (then edit the file and: "
        "sweeplab refine coarse --space sweeplab-workspace/sweeps/coarse-next/next.yaml)"
    ),
)
def next_sweep(
    sweep: str | None = typer.Argument(
        None, help="The sweep to go on from (default: the last sweep in the workspace)."
    ),
    trials: int | None = typer.Option(
        None, "--trials", "-n", min=1, help="Trials of the new sweep (default: as many as before)."
    ),
    warm: int = typer.Option(
        5,
        "--warm-start",
        min=0,
        help="Run the previous sweep's best K configurations first (their values valid in the "
        "new space; at most half the new sweep's trials; 0: none).",
    ),
    name: str | None = typer.Option(
        None, "--name", help="Name of the new sweep (default: SWEEP-next)."
    ),
    write_only: bool = typer.Option(
        False, "--write-only", help="Only write the derived space YAML; do not run the sweep."
    ),
    force: bool = typer.Option(
        False, "--force", help="Run the next sweep even when the stop rule says stop tuning."
    ),
    top: int = typer.Option(
        5,
        "--top",
        "-k",
        min=0,
        help="Narrow the parameters the diagnosis leaves alone around the best K trials, as "
        "refine does (0: keep their ranges).",
    ),
    seed: int | None = typer.Option(
        None, "--seed", min=0, help="Sampler seed (default: the old sweep's)."
    ),
    workspace: Path | None = WorkspaceOpt,
    tracking_uri: str | None = TrackingOpt,
) -> None:
    """The next sweep, derived from the best trial's diagnosis: for avoidable bias a bigger
    model, longer training, better optimizers and less regularization; for variance more
    regularization (L2, dropout, augmentation, early stopping). The space is written as YAML,
    each change with its reason; the new sweep starts with the old sweep's best
    configurations and its parent run is tagged sweeplab.next_from = SWEEP. Says "stop
    tuning" when avoidable bias and variance are within noise of human-level error, or when
    SWEEP did not beat its own parent beyond noise."""
    from sweeplab.analysis import noise_note
    from sweeplab.cli.refine import run_child_sweep, unused_name
    from sweeplab.config.project import parse_project
    from sweeplab.errors import UserError
    from sweeplab.reports._lineage import (
        best_diagnosis,
        lineage,
        split_sizes,
        sweep_advice,
    )
    from sweeplab.space import derive_space
    from sweeplab.tasks import project_knobs
    from sweeplab.workspace import Workspace, check_safe_name

    ws = Workspace.at(workspace)
    chain = lineage(sweep, workspace=ws.root, tracking_uri=tracking_uri)
    old, parent = chain[-1], (chain[-2] if len(chain) > 1 else None)
    best = old.top_feasible(max(1, warm))
    if not best:
        raise UserError(
            f"sweep {old.name!r} has no finished trial that satisfies every constraint; "
            "nothing to diagnose"
        )
    diag = best_diagnosis(best[0])
    if diag is None:
        raise UserError(
            f"the best trial of sweep {old.name!r} logged no train_error and dev_error; "
            "`next` derives the next space from the error ladder"
        )
    sizes = split_sizes(old.parent_params)
    say = err_console()
    say.print(f"best trial #{best[0].number} of {old.name}: {diag.verdict}")
    note = noise_note(diag, sizes)
    if note:
        say.print(note)
    advice = sweep_advice(old, parent)
    if advice is not None:
        typer.echo(advice.text())
    stop = advice is not None and advice.stop and not force

    pf = parse_project(old.info["project"])
    current, limits = project_knobs(pf)
    derived = derive_space(
        old.space,
        diag.problem,
        current=current,
        limits=limits,
        has_target=pf.project.data.target is not None,
        top=[t.params for t in old.top_feasible(top)] if top else (),
    )
    new_name = check_safe_name(name) if name else unused_name(ws, f"{old.name}-next")
    if (ws.sweep_dir(new_name) / "sweep.json").exists():
        raise UserError(
            f"a sweep named {new_name!r} already exists in {ws.root}; choose another --name"
        )
    header = (
        f"# Derived from sweep {old.name} by `sweeplab next`: best trial #{best[0].number}.\n"
        f"# {diag.verdict}\n"
        "# Edit it, then run it with: sweeplab refine "
        f"{old.name} --space THIS_FILE --name NEW_NAME\n"
    )
    space_path = ws.sweep_dir(new_name) / NEXT_FILE
    space_path.parent.mkdir(parents=True, exist_ok=True)
    space_path.write_text(derived.to_yaml(header))
    for c in derived.changes:
        say.print(f"  {c.name}: {_describe(c.before)} → {_describe(c.after)}  ({c.why})")
    for note in derived.notes:
        say.print(f"  {note}")
    typer.echo(f"next space: {space_path}")
    if write_only or stop:
        if stop:
            typer.echo("not running a next sweep (--force runs it anyway)")
        return
    if not derived.changes:
        typer.echo("no search-space knob to change for this diagnosis: not running a sweep")
        return
    warm_configs = warm_start_configs(derived.space, [t.params for t in best[:warm]])
    # at most half the new sweep (rounded up): the rest explores the new space afresh
    n_new = trials or int(old.info.get("trials") or 20)
    warm_configs = warm_configs[: max(1, (n_new + 1) // 2)] if warm else ()
    outcome = run_child_sweep(
        old, "next", space_path, name=new_name, trials=trials, seed=seed, workspace=ws.root,
        tracking_uri=tracking_uri,
        parent_tags={
            "sweeplab.derived_for": diag.problem or "none",
            "sweeplab.warm_start": str(len(warm_configs)),
        },
        warm_start=warm_configs,
    )  # fmt: skip
    from sweeplab.cli.sweep import _print_outcome

    _print_outcome(outcome)
    if outcome.stopped_reason:
        raise typer.Exit(1)


def _describe(dist) -> str:
    if dist is None:
        return "(not searched)"
    from sweeplab.cli.refine import _describe as describe

    return describe(dist)
