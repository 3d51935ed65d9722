"""`sweeplab sweep`: run a hyperparameter sweep of a project."""

from __future__ import annotations

import math
import shlex
import sys
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.text import Text

from sweeplab.cli._app import app
from sweeplab.cli._common import TrackingOpt, WorkspaceOpt, err_console, fmt_value, path_arg
from sweeplab.cli._common import console as make_console

__all__ = ["sweep"]


class Backend(str, Enum):
    optuna = "optuna"
    ray = "ray"


class SamplerChoice(str, Enum):
    random = "random"
    grid = "grid"
    tpe = "tpe"


class PrunerChoice(str, Enum):
    none = "none"
    median = "median"
    successive_halving = "successive_halving"
    hyperband = "hyperband"


class SchedulerChoice(str, Enum):
    none = "none"
    asha = "asha"


class LogModelsChoice(str, Enum):
    all = "all"
    best = "best"
    none = "none"


@app.command(
    epilog="Example: sweeplab sweep projects/digits_mlp.yaml --trials 30 --sampler tpe",
)
def sweep(
    project: Path = typer.Argument(
        ..., help="Project YAML file (data, model, training, metrics, search)."
    ),
    space: Path | None = typer.Option(
        None, "--space", "-s", help="Search-space YAML (default: the project's search.space)."
    ),
    trials: int | None = typer.Option(
        None,
        "--trials",
        "-n",
        min=1,
        help="Number of trials (default: the project's search.trials; grid: every point).",
    ),
    sampler: SamplerChoice | None = typer.Option(
        None, "--sampler", help="random | grid | tpe (default: the project's)."
    ),
    pruner: PrunerChoice | None = typer.Option(
        None,
        "--pruner",
        help="Early stopping of poor trials (Optuna): none | median | successive_halving | hyperband.",
    ),
    name: str | None = typer.Option(
        None, "--name", help="Sweep name (default: PROJECT-DATE-TIME)."
    ),
    seed: int | None = typer.Option(
        None, "--seed", min=0, help="Sampler seed (default: the project's search.seed)."
    ),
    workspace: Path | None = WorkspaceOpt,
    tracking_uri: str | None = TrackingOpt,
    backend: Backend = typer.Option(
        Backend.optuna, "--backend", help="optuna (in-process) | ray (Ray Tune)."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue an interrupted sweep (the last one of this project, or --name).",
    ),
    max_failures: int | None = typer.Option(
        None, "--max-failures", min=1, help="Stop the sweep after this many failed trials."
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Join an existing Ray cluster (ray backend)."
    ),
    cpus_per_trial: float = typer.Option(
        1.0,
        "--cpus-per-trial",
        min=0.0,
        help="CPUs per trial (ray backend); a trial's torch uses max(1, int(CPUS)) threads. "
        "Optuna trials run one at a time with torch's default threads (OMP_NUM_THREADS, "
        "else one per core).",
    ),
    gpus_per_trial: float = typer.Option(
        0.0,
        "--gpus-per-trial",
        min=0.0,
        help="GPUs per trial, fractions allowed (ray backend; with --jobs: whole GPUs per "
        "worker through CUDA_VISIBLE_DEVICES, or fractions sharing a GPU).",
    ),
    max_concurrent: int | None = typer.Option(
        None, "--max-concurrent", min=1, help="Most trials at once (ray backend)."
    ),
    scheduler: SchedulerChoice = typer.Option(
        SchedulerChoice.none, "--scheduler", help="Trial scheduler (ray backend): none | asha."
    ),
    grace_period: int = typer.Option(
        3,  # measured: 1 and 2 epochs stop the best trial too early (benchmarks/bench_search.py)
        "--grace-period",
        min=1,
        help="Epochs before a trial can be stopped, for Ray's --scheduler asha and Optuna's "
        "--pruner successive_halving | hyperband (ignored otherwise). On --resume the "
        "sweep's own value is kept.",
    ),
    reduction_factor: int = typer.Option(
        3,
        "--reduction-factor",
        min=2,
        help="Keep 1/factor of the trials at each rung (grace period × factor^k epochs), for "
        "Ray's --scheduler asha and Optuna's --pruner successive_halving | hyperband "
        "(ignored otherwise). On --resume the sweep's own value is kept.",
    ),
    log_models: LogModelsChoice | None = typer.Option(
        None,
        "--log-models",
        help="Trained models kept in MLflow: best (the best feasible trial) | all (every "
        "finished trial) | none (default: the project's tracking.log_models, else best).",
    ),
    study_storage: str | None = typer.Option(
        None,
        "--study-storage",
        help="Keep the Optuna study on a shared database, postgresql://USER@HOST:PORT/DB "
        "(default: the project's search.study_storage, else a file in the workspace): "
        "--resume and --join on other machines take the sweep up from there.",
        show_default=False,
    ),
    jobs: int = typer.Option(
        1,
        "--jobs",
        "-j",
        min=1,
        max=256,
        help="Trials at once on this machine (Optuna backend): this process and JOBS - 1 "
        "workers share the sweep, the CPU threads and the GPUs (--gpus-per-trial).",
    ),
    join: bool = typer.Option(
        False,
        "--join",
        help="Join the running sweep --name as a worker (Optuna backend; from another machine "
        "with the sweep's --study-storage and --tracking-uri): run its trials until it has "
        "them all.",
    ),
    system_metrics: bool | None = typer.Option(
        None,
        "--system-metrics/--no-system-metrics",
        help="Log MLflow's system metrics (CPU, memory, disk, network; GPU with the gpu extra) "
        "on every trial run (default: the project's tracking.system_metrics, else off).",
    ),
) -> None:
    """Run a hyperparameter sweep: every trial trains the project's model with sampled
    parameters and is logged to MLflow as a child run of the sweep's parent run."""
    from sweeplab.errors import UserError

    path_arg(project)
    if space is not None:
        path_arg(space)
    if not (resume or join):
        _check_files(project, space, sampler=sampler.value if sampler else None, trials=trials)
    from sweeplab.tuning import SweepInterrupted, SweepSettings, run_sweep, stop_on_signals

    if backend is Backend.optuna:
        ray_only = {
            "--ray-address": ray_address is not None,
            "--gpus-per-trial": gpus_per_trial != 0.0 and jobs == 1,
            "--max-concurrent": max_concurrent is not None,
            "--scheduler": scheduler is not SchedulerChoice.none,
        }
        given = [flag for flag, set_ in ray_only.items() if set_]
        if given:
            raise UserError(
                f"{', '.join(given)} only apply to --backend ray; for early stopping with Optuna use --pruner"
            )
    elif pruner is not None and pruner is not PrunerChoice.none:
        raise UserError("--pruner is for --backend optuna; with --backend ray use --scheduler asha")
    settings = SweepSettings(
        project_path=project,
        space_path=space,
        trials=trials,
        sampler=sampler.value if sampler else None,
        pruner=pruner.value if pruner else None,
        name=name,
        seed=seed,
        workspace=workspace,
        tracking_uri=tracking_uri,
        backend=backend.value,
        resume=resume,
        max_failures=max_failures,
        ray_address=ray_address,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        max_concurrent=max_concurrent,
        scheduler=scheduler.value if scheduler is not SchedulerChoice.none else None,
        grace_period=grace_period,
        reduction_factor=reduction_factor,
        log_models=log_models.value if log_models else None,
        system_metrics=system_metrics,
        study_storage=study_storage,
        jobs=jobs,
        join=join,
    )
    display = _ProgressDisplay()

    def second_signal(signum: int, name: str | None, ws: Path | None) -> str:
        stopped = f"sweeplab: a second {_signal_name(signum)} stopped the sweep at once"
        if name is None:
            return f"{stopped}, before it was recorded"
        return f"{stopped}; resume it with: {resume_command(settings, name, ws)}"

    # SIGTERM (kill, a batch scheduler, docker stop) ends the sweep as Ctrl-C does
    with stop_on_signals(second_signal) as stop:
        try:
            outcome = run_sweep(settings, progress=display)
        except SweepInterrupted as exc:
            display.stop()  # before the line, so that the bar does not draw over it
            # the sweep's name: from the backend, else as soon as the setup had chosen it
            known = (exc.sweep, exc.workspace) if exc.sweep else (stop.sweep if stop else None)
            if known is None:
                line = "before the sweep was recorded; nothing ran"
            else:
                line = f"resume the sweep with: {resume_command(settings, *known)}"
            print(f"sweeplab: interrupted ({exc.signal_name}); {line}", file=sys.stderr, flush=True)
            raise typer.Exit(exc.exit_code) from None
        finally:
            display.stop()
    _print_outcome(outcome)
    if outcome.stopped_reason:
        err_console().print(f"sweeplab: {outcome.stopped_reason}", style="red", soft_wrap=True)
        raise typer.Exit(1)


def _check_files(project: Path, space: Path | None, *, sampler: str | None, trials: int | None):
    """Refuse a bad project or search-space file, or a whole grid too large to run, before
    PyTorch and MLflow are imported (a refused input costs ~50 MB, not ~400 MB). The sweep
    checks them again, with everything else."""
    from sweeplab.config.project import parse_project
    from sweeplab.errors import UserError
    from sweeplab.space import load_space, project_space_path, whole_grid_trials

    pf = parse_project(project)
    path = project_space_path(pf, space)
    if path is None:
        return
    search_space = load_space(path)
    if trials is None and (sampler or pf.project.search.sampler.value) == "grid":
        try:
            whole_grid_trials(search_space.grid())
        except UserError as exc:
            if sampler:  # the flag chose grid
                raise UserError(exc.message, key="--sampler") from None
            line = pf.doc.line_of(("search", "sampler"))
            raise exc.located(file=str(pf.path), line=line) from None


def _signal_name(signum: int) -> str:
    import signal

    return signal.Signals(signum).name


def resume_command(settings, name: str | None, workspace: Path | None) -> str:
    """The command that resumes the sweep, as the user would type it (shell-quoted): the
    project, ``--resume``, the sweep's name (without one, the project's last sweep) and the
    workspace, and the flags a resume does not read back from the sweep (backend, Ray's
    resources, ``--max-failures``)."""
    args = ["sweeplab", "sweep", str(settings.project_path), "--resume"]
    if name:
        args += ["--name", name]
    ws = settings.workspace or workspace
    if ws is not None:
        args += ["-w", str(ws)]
    if settings.backend != "optuna":
        args += ["--backend", settings.backend]
    if settings.ray_address:
        args += ["--ray-address", settings.ray_address]
    if settings.backend == "ray":
        if settings.cpus_per_trial != 1.0:
            args += ["--cpus-per-trial", f"{settings.cpus_per_trial:g}"]
        if settings.gpus_per_trial:
            args += ["--gpus-per-trial", f"{settings.gpus_per_trial:g}"]
        if settings.max_concurrent:
            args += ["--max-concurrent", str(settings.max_concurrent)]
        if settings.scheduler:
            args += ["--scheduler", settings.scheduler]
    if settings.max_failures:
        args += ["--max-failures", str(settings.max_failures)]
    if settings.jobs > 1:
        args += ["--jobs", str(settings.jobs)]
    if settings.study_storage:  # without its password (see --study-storage)
        from sweeplab.tuning import redact

        args += ["--study-storage", redact(settings.study_storage)]
    return shlex.join(args)


class _ProgressDisplay:
    """Progress bar: trial k/N, best value so far, elapsed / remaining; current trial's epoch."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = err_console()
        self.progress = Progress(
            TextColumn("trials", style="bold", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[best]}", markup=False),
            TimeElapsedColumn(),
            TextColumn("/", markup=False),
            TimeRemainingColumn(),
            TextColumn("{task.fields[current]}", markup=False),
            console=self.console,
            transient=False,
            refresh_per_second=2,  # the bar competes with training for the GIL: redraw rarely
        )
        self.task = None
        self.objective = "dev_error"
        self.started = False

    def __call__(self, event) -> None:
        from sweeplab.tuning import (
            EpochDone,
            StatusMessage,
            SweepStarted,
            TrialDone,
            TrialStarted,
            TrialStatus,
        )

        if isinstance(event, StatusMessage):
            self.console.print(f"{event.message}…", style="dim")
            return
        if isinstance(event, SweepStarted):
            self.objective = event.objective.name
            self.progress.start()
            self.started = True
            self.task = self.progress.add_task(
                "sweep",
                total=event.total,
                completed=event.done,
                best=self._best(event.best),
                current="",
            )
            return
        if self.task is None:
            return
        if isinstance(event, TrialStarted):
            self.progress.update(self.task, current=f"#{event.number} starting")
        elif isinstance(event, EpochDone):
            self.progress.update(self.task, current=f"epoch {event.epoch}")
        elif isinstance(event, TrialDone):
            o = event.outcome
            if o.status == TrialStatus.FAILED:
                self.progress.console.print(f"trial {o.number} failed: {o.reason}", style="yellow")
            self.progress.update(
                self.task, completed=event.done, best=self._best(event.best), current=""
            )

    def _best(self, best) -> str:
        if best is None:
            return "best: –"
        value = best.metrics.get(self.objective)
        if value is None:
            return f"best: #{best.number}"
        return f"best {self.objective}: {value:.4f} (#{best.number})"

    def stop(self) -> None:
        if self.started:
            self.started = False
            self.progress.stop()


def _print_outcome(outcome) -> None:
    from rich.table import Table

    from sweeplab.analysis import rank_trials
    from sweeplab.tuning import TrialStatus

    console = make_console()
    objective = outcome.objective.name
    counts: dict[str, int] = {}
    for t in outcome.trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    # finished trials with a finite value, feasible ones first (the order of `sweeplab runs`)
    order = rank_trials(
        [{objective: t.metrics.get(objective, math.nan)} for t in outcome.trials],
        outcome.objective,
        status=[t.status for t in outcome.trials],
        feasible=[t.feasible for t in outcome.trials],
        order=[t.number for t in outcome.trials],
    )
    ranked = [
        t
        for t in (outcome.trials[i] for i in order)
        if t.status == TrialStatus.FINISHED and math.isfinite(t.metrics.get(objective, math.nan))
    ]
    table = Table(
        title=f"sweep {outcome.name}: best trials by {objective} ({outcome.objective.goal})"
    )
    # the objective, the task's headline metric (dev mAP, mean IoU …) and the training errors
    # the trials have (a vision task has no train-dev set, style transfer no errors at all)
    logged = {k for t in ranked for k in t.metrics}
    from sweeplab.workspace import Workspace

    columns = Workspace.at(outcome.workspace).read_sweep(outcome.name).get("columns", {})
    summary = columns.get("summary")
    headline = [summary] if summary in logged and summary != objective else []
    metric_cols = [objective, *headline] + [
        m
        for m in ("train_error", "train_dev_error")
        if m != objective and (m in logged or not logged)
    ]
    table.add_column("trial", justify="right", no_wrap=True)
    for col in metric_cols:
        header = col.replace("_error", " err").replace("_", "-")
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("hyperparameters", overflow="fold")
    for t in ranked[:5]:
        table.add_row(
            f"{t.number}{'' if t.feasible else ' ✗'}",
            *(fmt_value(t.metrics[m]) if m in t.metrics else "–" for m in metric_cols),
            " ".join(f"{k}={fmt_value(v)}" for k, v in t.params.items()),
        )
    console.print(table)
    if any(not t.feasible for t in ranked[:5]):
        console.print("✗ breaks a satisficing constraint, so it cannot be the best trial")
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    console.print(f"{len(outcome.trials)} trials ({summary}) in {outcome.elapsed_s:.1f} s")
    if outcome.best is not None:
        b = outcome.best
        console.print(
            Text.assemble(
                (f"best trial #{b.number}", "bold green"),
                f": {objective} = {b.metrics[objective]:.4f}"
                f"  params: {', '.join(f'{k}={fmt_value(v)}' for k, v in b.params.items())}",
            )
        )
    else:
        console.print(
            "no trial finished with a finite value that satisfies every constraint",
            style="yellow",
        )
    ws = (
        f" --workspace {outcome.workspace}"
        if outcome.workspace != Path("sweeplab-workspace").resolve()
        else ""
    )
    console.print(
        Text.assemble(
            "Look at the trials: ",
            (f"sweeplab runs {outcome.name}{ws}", "bold"),
            "   in the MLflow UI: ",
            (ui_hint(outcome.tracking_uri, outcome.experiment_id, ws), "bold"),
        )
    )
    _print_advice(outcome, console)


def ui_hint(tracking_uri: str, experiment_id: str, ws: str) -> str:
    """Where to look at the sweep in the MLflow UI: the tracking server itself when the runs
    went to one (``sweeplab ui`` shows the workspace's own store, which has none of them)."""
    if tracking_uri.startswith(("http://", "https://")):
        parts = urlsplit(tracking_uri)
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        base = urlunsplit(parts._replace(netloc=host, query="", fragment="")).rstrip("/")
        return f"{base}/#/experiments/{experiment_id}"
    return f"sweeplab ui{ws}"


def _print_advice(outcome, console) -> None:
    """The stop rule at the end of a sweep (its best trial, against its parent sweep's)."""
    from rich.text import Text

    from sweeplab.reports._lineage import lineage, sweep_advice

    if outcome.best is None or outcome.objective.name != "dev_error":
        return
    try:
        chain = lineage(
            outcome.name, workspace=outcome.workspace, tracking_uri=outcome.tracking_uri
        )
    except Exception:  # noqa: BLE001 - advice is a convenience: the sweep's results are printed
        return
    advice = sweep_advice(chain[-1], chain[-2] if len(chain) > 1 else None)
    if advice is None:
        return
    if advice.stop:
        console.print(Text(advice.text(), style="bold yellow"))
    else:
        line = Text(f"{advice.text()}  Next sweep: ")
        line.append(f"sweeplab next {outcome.name}", style="bold")
        console.print(line)
