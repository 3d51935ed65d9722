"""A sweep: settings resolved once from the project file and the command line, the shared
setup both backends need (workspace, split manifest, MLflow parent run), and the outcome."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import socket
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from sweeplab._atomic import write_atomic
from sweeplab.analysis import Constraint, Objective
from sweeplab.errors import UserError
from sweeplab.space import SearchSpace, load_space, project_space_path, whole_grid_trials
from sweeplab.tasks import (
    TASKS,
    check_space_names,
    check_space_values,
    load_project,
    prepare_context,
    setting_schemas,
)
from sweeplab.tracking import (
    TAG,
    Outbox,
    SweepRun,
    artifact_root,
    client_for,
    default_tracking_uri,
    get_or_create_experiment,
    is_local_uri,
    objective_params,
    quiet_http_retries,
)
from sweeplab.tuning._interrupt import announce_sweep
from sweeplab.tuning._lifecycle import ProgressFn, StatusMessage, no_progress
from sweeplab.tuning._optuna import make_pruner
from sweeplab.tuning._owner import own_sweep
from sweeplab.tuning._ray_cluster import check_ray_settings
from sweeplab.tuning._settings import SweepSettings, SweepSetup, trial_epochs
from sweeplab.tuning._stores import check_resumable
from sweeplab.tuning._study import (
    adopt_shared_sweep,
    check_study_storage,
    hold_driver_lock,
    redact,
)
from sweeplab.tuning._workers import JOIN_WAIT_ENV, wait_for
from sweeplab.workspace import Workspace, check_safe_name

__all__ = ["setup_sweep"]


#: A sweep name is at most 100 characters (workspace.check_safe_name; MLflow allows 250 for
#: the parent run's name and 8000 for its tags): the default one keeps the timestamp whole.
_DEFAULT_NAME_PROJECT_CHARS = 100 - len("-YYYYmmdd-HHMMSS")


def _name_stem(project_name: str) -> str:
    return project_name[:_DEFAULT_NAME_PROJECT_CHARS].rstrip("._-") or "sweep"


def _default_name(project_name: str) -> str:
    """``<project>-<YYYYmmdd-HHMMSS>``, the project part cut to fit a sweep name."""
    return f"{_name_stem(project_name)}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def default_sweep_name(settings: SweepSettings) -> str:
    """The sweep ``settings`` run without ``--name``: with ``--resume`` the project's last
    sweep in the workspace, else a new sweep's default name."""
    project_name = load_project(settings.project_path).project.name
    if settings.resume:
        return _last_sweep_of(Workspace.at(settings.workspace), project_name)
    return _default_name(project_name)


def setup_sweep(
    settings: SweepSettings,
    *,
    progress: ProgressFn | None = None,
    held: contextlib.ExitStack | None = None,
    owned: bool = False,
) -> SweepSetup:
    """``held``: where the sweep's locks are kept for as long as it runs (the caller's);
    ``owned``: the caller already holds the sweep's driver lock (:func:`own_sweep`)."""

    say = progress or no_progress
    pf = load_project(settings.project_path)
    project = pf.project
    objective = Objective(project.metrics.optimize.name, project.metrics.optimize.goal)
    ws = Workspace.at(settings.workspace).ensure()

    # a folder from before this process: a start of this sweep that was stopped (see below)
    started_before = bool(settings.name) and ws.sweep_dir(settings.name).is_dir()
    if not settings.join:
        # One driver per sweep: its name first, then its lock, before anything in its folder
        # is looked at (a sweep starting now has a folder and no record yet).
        if settings.resume and not settings.name:
            settings = replace(settings, name=_last_sweep_of(ws, project.name))
        elif not settings.resume:
            settings = replace(
                settings, name=check_safe_name(settings.name or _default_name(project.name))
            )
        if held is not None and not owned:
            held.enter_context(own_sweep(ws.sweep_dir(settings.name)))

    study_storage = _study_storage(settings, project)
    if settings.join:
        settings = _joining(settings, ws, study_storage)
    elif (
        settings.resume
        and settings.name
        and study_storage
        and not (ws.sweep_dir(settings.name) / "sweep.json").exists()
    ):
        # a sweep started on another machine, on a shared study: take it up from there
        adopt_shared_sweep(
            ws.sweep_dir(settings.name),
            settings.name,
            study_storage,
            project_path=settings.project_path,
        )
    restarted = False
    if settings.resume and started_before and _never_recorded(ws, settings.name):
        # Killed before its sweep.json was written (loading data, creating the parent run):
        # no trial ran, so "resume" starts it afresh under the same name.
        settings = replace(settings, resume=False)
        restarted = True
        # no trial used its split manifest, and a kill may have torn it: build it again
        (ws.sweep_dir(settings.name) / "splits.json").unlink(missing_ok=True)
    if settings.resume:
        name = settings.name or _last_sweep_of(ws, project.name)
        info = ws.read_sweep(name)
        if Path(info["project"]).resolve() != settings.project_path.resolve():
            raise UserError(
                f"sweep {name!r} was started from {info['project']}, not {settings.project_path}; "
                "resume it with the same project file"
            )
        if info.get("adopted"):
            info["project"] = str(settings.project_path.resolve())
        study_storage = _stored_uri(info, "study_storage", study_storage, "--study-storage")
        if info.get("backend", "optuna") != settings.backend:  # before the run is reopened
            raise UserError(
                f"sweep {name!r} ran with --backend {info.get('backend', 'optuna')}; resume it "
                f"with --backend {info.get('backend', 'optuna')}"
            )
    else:
        name = check_safe_name(settings.name)
        if (ws.sweep_dir(name) / "sweep.json").exists():
            raise UserError(
                f"a sweep named {name!r} already exists in {ws.root}; use --resume to continue it or another --name"
            )
        info = {}
    if study_storage and not settings.join and held is not None:
        # one driver per sweep across machines: a lock in the shared database, taken before
        # the parent run is touched
        held.enter_context(hold_driver_lock(name, study_storage))
    tracking_uri = _stored_uri(
        info, "tracking_uri", settings.tracking_uri, "--tracking-uri"
    ) or default_tracking_uri(ws.root)
    if (
        settings.backend == "ray"
    ):  # before any data is loaded: e.g. a file store on a remote cluster
        check_ray_settings(settings, tracking_uri=tracking_uri)

    # Search space: the flag, else the project's, else none (a single configuration).
    if settings.resume:
        space_path = ws.sweep_dir(name) / "space.yaml"
    else:
        space_path = project_space_path(pf, settings.space_path)
    if space_path is not None:
        space = load_space(space_path)
        # each value the space can give must fit its setting: before any data is loaded
        check_space_values(space, setting_schemas(project), space_file=str(space_path))
    else:
        space = SearchSpace.from_dict({"parameters": {}}, file=str(pf.path))

    sampler = (
        (info.get("sampler") if settings.resume else None)
        or settings.sampler
        or project.search.sampler.value
    )
    pruner = (
        (info.get("pruner") if settings.resume else None)
        or settings.pruner
        or project.search.pruner.value
    )
    if settings.resume:
        # The rungs the sweep started with (sweep.json; older sweeps have them only in the
        # recorded settings), whatever the defaults of this command line are.
        saved = {**info.get("settings", {}), **info}
        settings = replace(
            settings,
            grace_period=int(saved.get("grace_period", settings.grace_period)),
            reduction_factor=int(saved.get("reduction_factor", settings.reduction_factor)),
            # the warm start it began with: a resumed sweep runs the same sequence
            warm_start=tuple(saved.get("warm_start") or settings.warm_start),
        )
    seed = (
        info.get("seed")
        if settings.resume
        else (settings.seed if settings.seed is not None else project.search.seed)
    )
    if sampler == "grid":
        trials = settings.trials or info.get("trials") or whole_grid_trials(space.grid())
    else:
        trials = settings.trials or info.get("trials") or project.search.trials or 20
    max_failures = settings.max_failures or project.search.max_failures
    if settings.backend == "optuna":  # e.g. a grace period as long as a trial: before any work
        make_pruner(
            pruner,
            grace_period=settings.grace_period,
            reduction_factor=settings.reduction_factor,
            max_epochs=trial_epochs(project, space),
        )

    sweep_dir = ws.sweep_dir(name)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    announce_sweep(name, ws.root)  # from now on a stopped sweep can be resumed by its name
    say(StatusMessage("loading data"))
    try:
        ctx, dataset, manifest = prepare_context(
            pf,
            manifest_path=sweep_dir / "splits.json",
            tracking_uri=tracking_uri,
        )
    except UserError as exc:
        if exc.file or not (exc.key or "").startswith("data"):
            raise
        # A data error names its key (data.splits); say which file and line it is on.
        raise exc.located(
            file=str(pf.path), line=pf.doc.line_of(tuple(exc.key.split(".")))
        ) from None
    recorded = info.get("data_fingerprint")
    if info.get("adopted") and recorded and recorded != manifest.fingerprint:
        raise UserError(
            f"sweep {name!r} was started on data whose split manifest is {recorded}; the "
            f"project {settings.project_path} gives {manifest.fingerprint} on this machine: "
            "take the sweep up with the same project file and data"
        )
    check_space_names(
        space,
        model_name=ctx.model_name,
        model_fields=ctx.model_fields,
        train_fields=ctx.train_fields,
        space_file=str(space_path) if space_path else None,
        task_fields=ctx.task_fields,
        task=ctx.task,
    )

    say(StatusMessage("opening the tracking store"))
    quiet_http_retries()  # the outbox retries; MLflow's own retries would stall for minutes
    # Two sweeps starting at once on a fresh workspace would both create the SQLite store's
    # tables ("table ... already exists"): one process at a time opens it.
    store_lock = (
        ws.lock("tracking-store")
        if tracking_uri.startswith("sqlite:")
        else contextlib.nullcontext()
    )
    try:
        with store_lock:
            client = client_for(tracking_uri)
            if settings.resume and not settings.join:  # before anything is written to it
                check_resumable(
                    client,
                    info=info,
                    experiment=project.name,
                    sweep_dir=ws.sweep_dir(name),
                    tracking_uri=tracking_uri,
                    study_storage=study_storage,
                )
            exp_id = get_or_create_experiment(
                client,
                project.name,
                artifact_location=artifact_root(ws.root) + f"/{project.name}"
                if tracking_uri.startswith("sqlite:")
                else None,
            )
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - an unreachable server is the user's to fix
        raise UserError(
            f"cannot reach the MLflow tracking store at {redact(tracking_uri)}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        ) from None

    constraints = _constraints(pf)
    # In-process trials (Optuna) and a tracking *server*: a sender thread writes to MLflow
    # while the next trial trains (every write is on disk in the outbox folder first, see
    # tracking/_outbox.py); a network round trip leaves the GIL free for training. With the
    # local SQLite store the writes are Python work under the GIL (MLflow's ORM), which a
    # thread cannot hide on a busy CPU: measured on 2 cores (benchmarks/bench_tracking.py),
    # the sender thread cost 30 ms per 0.4-s trial against 4 ms for sending in line.

    outbox = Outbox(
        client,
        # a worker's own folder: the driver's outbox is the driver's (`sweeplab sync` sends both)
        ws.outbox_dir(name) / f"worker-{socket.gethostname()}-{os.getpid()}"
        if settings.join
        else ws.outbox_dir(name),
        tracking_uri=tracking_uri,
        background=settings.backend == "optuna" and not is_local_uri(tracking_uri),
    )
    if settings.join:  # the driver owns the parent run; a worker only adds trial runs to it
        sweep_run = SweepRun(client, exp_id, info["parent_run_id"], name, outbox)
    elif settings.resume:
        sweep_run = SweepRun(client, exp_id, info["parent_run_id"], name, outbox)
        sweep_run.reopen()
        sweep_run.log_summary({}, {TAG["status"]: "running"})  # no longer "interrupted"
    else:
        if restarted:
            _kill_stale_parents(client, exp_id, name)
        sweep_run = SweepRun.start(
            client,
            exp_id,
            outbox=outbox,
            name=name,
            tags={
                "sweeplab.backend": settings.backend,
                "sweeplab.sampler": sampler,
                "sweeplab.pruner": pruner,
                "sweeplab.space_hash": space.fingerprint(),
                "sweeplab.project": str(settings.project_path),
                "sweeplab.data_fingerprint": manifest.fingerprint,
                "mlflow.note.content": _note(
                    project.description,
                    f"sweeplab sweep of {settings.project_path} ({sampler}, {trials} trials)",
                ),
                **settings.parent_tags,
            },
            params={
                "sampler": sampler,
                "trials": trials,
                "seed": seed,
                "pruner": pruner,
                **(
                    {
                        "grace_period": settings.grace_period,
                        "reduction_factor": settings.reduction_factor,
                    }
                    if _uses_rungs(settings, pruner)
                    else {}
                ),
                "backend": settings.backend,
                "model": project.model.name,
                **objective_params(objective),
                "constraints": "; ".join(project.metrics.satisfy) or "none",
                "splits": " ".join(f"{k}={v}" for k, v in manifest.sizes().items()),
            },
        )
        space_copy = sweep_dir / "space.yaml"
        write_atomic(space_copy, space.to_yaml())
        for path in (space_copy, sweep_dir / "splits.json"):
            try:
                client.log_artifact(sweep_run.run_id, str(path), artifact_path="sweep")
            except Exception:  # noqa: BLE001 - artifacts are a convenience; the run is what matters
                pass
        ws.write_sweep(
            name,
            {
                "name": name,
                "project": str(settings.project_path.resolve()),
                "space": str(space_path.resolve()) if space_path else None,
                "backend": settings.backend,
                "sampler": sampler,
                "pruner": pruner,
                "grace_period": settings.grace_period,
                "reduction_factor": settings.reduction_factor,
                "seed": seed,
                "trials": trials,
                "tracking_uri": redact(tracking_uri),  # never a password on disk
                "study_storage": redact(study_storage),
                "experiment_id": exp_id,
                "parent_run_id": sweep_run.run_id,
                # what `sweeplab runs` shows beside the errors, without loading the task
                "task": ctx.task,
                "data_fingerprint": manifest.fingerprint,  # checked where the sweep is taken up
                "columns": _task_columns(ctx.task),
                "created": _dt.datetime.now().isoformat(timespec="seconds"),
                "settings": {
                    k: redact(v)
                    if k in ("tracking_uri", "study_storage")
                    else (str(v) if isinstance(v, Path) else v)
                    for k, v in asdict(settings).items()
                },
            },
        )
    if not settings.join:
        ws.write_sweep(name, {**ws.read_sweep(name), "status": "running"})
    return SweepSetup(
        settings=settings,
        project_file=pf,
        space=space,
        space_path=space_path,
        name=name,
        workspace=ws,
        sweep_dir=sweep_dir,
        tracking_uri=tracking_uri,
        trials=int(trials),
        sampler=sampler,
        pruner=pruner,
        seed=int(seed),
        max_failures=max_failures,
        context=ctx,
        sweep_run=sweep_run,
        objective=objective,
        constraints=constraints,
        resumed=settings.resume,
        study_storage=study_storage,
        worker=settings.join,
    )


#: The project's ``description`` on the parent run's note (MLflow's ``mlflow.note.content``
#: tag, the run's Description in the MLflow UI; a tag holds at most 8000 characters).
NOTE_CHARS = 5000


def _note(description: str | None, what: str) -> str:
    """The parent run's note: the project's description (cut to ``NOTE_CHARS``), then what
    the sweep is."""
    text = (description or "").strip()
    if len(text) > NOTE_CHARS:
        text = text[: NOTE_CHARS - 1] + "…"
    return f"{text}\n\n{what}" if text else what


def _study_storage(settings: SweepSettings, project: Any) -> str | None:
    """The shared database of the sweep's study: the flag, else the project's."""
    uri = settings.study_storage or project.search.study_storage
    if uri is None:
        return None
    if settings.backend == "ray":
        raise UserError(
            "--study-storage is for --backend optuna; Ray Tune keeps its own state "
            "(share a Ray sweep with --ray-address)"
        )
    return check_study_storage(uri)


def _stored_uri(info: dict[str, Any], key: str, given: str | None, flag: str) -> str | None:
    """A store's URI for a sweep that exists: the one given, else the one it recorded — which
    was written without its password, so then the user passes it again."""
    stored = info.get(key)
    if given:
        return given
    if stored and "***" in stored:
        raise UserError(
            f"sweep {info.get('name')!r} uses {stored}, whose password is not stored: pass "
            f"{flag} again (or keep the password in ~/.pgpass / PGPASSWORD)"
        )
    return stored


def _joining(settings: SweepSettings, ws: Workspace, study_storage: str | None) -> SweepSettings:
    """A worker joins a running sweep: by its name, from this workspace's record of it, or
    from its shared study (a machine that never saw it)."""
    if not settings.name:
        raise UserError("--join needs the --name of the running sweep to join")
    if settings.backend != "optuna":
        raise UserError("--join is for --backend optuna; Ray Tune schedules its own workers")
    record = ws.sweep_dir(settings.name) / "sweep.json"
    wait_s = float(os.environ.get(JOIN_WAIT_ENV, "0"))
    if wait_s and not record.exists():  # started by its driver, which is writing it now
        wait_for(record, wait_s)
    if not record.exists():
        adopted = None
        # The driver records the sweep on its study once its data is loaded and its parent
        # run is open (seconds after it starts): a worker started at the same time waits for
        # it, up to SWEEPLAB_JOIN_WAIT_S (default 60 s) for a shared study.
        deadline = time.monotonic() + float(os.environ.get(JOIN_WAIT_ENV, "60"))
        while study_storage and adopted is None:
            adopted = adopt_shared_sweep(
                ws.sweep_dir(settings.name),
                settings.name,
                study_storage,
                project_path=settings.project_path,
            )
            if adopted is None:
                if time.monotonic() >= deadline:
                    break
                time.sleep(1.0)
        if adopted is None and study_storage:
            # The driver records the sweep on its study once its data is loaded and its
            # parent run is open: a worker started right after it can come too early.
            raise UserError(
                f"no sweep named {settings.name!r} to join: none in {ws.root}, and none "
                f"recorded in the study storage {redact(study_storage)} (waited "
                f"{float(os.environ.get(JOIN_WAIT_ENV, '60')):g} s; start it with "
                f"`sweep --name {settings.name}` first, or check the name)"
            )
        if adopted is None:
            raise UserError(
                f"no sweep named {settings.name!r} to join in {ws.root} "
                "(on another machine, give its --study-storage)"
            )
    return replace(settings, resume=True)


def _task_columns(task: str) -> dict[str, Any]:
    """The task's summary metric and its per-class metric prefixes (dev set only)."""
    spec = TASKS.get(task)
    return {
        "summary": spec.summary_metric,
        "per_class": [f for f in spec.families if f.startswith("dev_")],
    }


def _uses_rungs(settings: SweepSettings, pruner: str) -> bool:
    """Whether --grace-period / --reduction-factor shape this sweep's early stopping."""
    if settings.backend == "ray":
        return settings.scheduler == "asha"
    return pruner in ("successive_halving", "hyperband")


def _never_recorded(ws: Workspace, name: str) -> bool:
    """The sweep folder exists but the sweep was never recorded (no sweep.json, no study)."""
    d = ws.sweep_dir(name)
    return d.is_dir() and not (d / "sweep.json").exists() and not (d / "optuna.journal").exists()


def _kill_stale_parents(client: Any, experiment_id: str, name: str) -> None:
    """Parent runs of an earlier start of this sweep that was killed before it was recorded."""

    stale = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{TAG['sweep']}` = '{name}' and tags.`{TAG['kind']}` = 'sweep' and attributes.status = 'RUNNING'",
        max_results=100,
    )
    for run in stale:
        client.set_terminated(run.info.run_id, "KILLED")


def _last_sweep_of(ws: Workspace, project_name: str) -> str:

    candidates = []
    for name in ws.sweeps():
        info = ws.read_sweep(name)
        if Path(info.get("project", "")).stem and name.startswith(_name_stem(project_name)):
            candidates.append((info.get("created", ""), name))
    if not candidates:
        raise UserError(
            f"nothing to resume: no sweep of project {project_name!r} in {ws.root}; name one with --name"
        )
    return sorted(candidates)[-1][1]


def _constraints(pf: Any) -> list[Any]:

    # The names were checked against what this project's trials report when it was loaded
    # (config.project.known_metrics; per-label names of a CSV's columns only the data knows).
    return [Constraint.parse(text) for text in pf.project.metrics.satisfy]
