"""The Ray Tune backend: the same space, the same ``run_trial``, the same MLflow layout.

``run_ray`` starts a local Ray (or joins ``--ray-address``), translates the search space
(``space.to_tune()``; the trainable calls ``space.resolve``), picks Tune's searcher for the
sampler (random and grid: BasicVariantGenerator, seeded, grid points first; tpe:
OptunaSearch with the space's define-by-run ``suggest``), optionally ASHA, and runs a
``Tuner`` whose run folder is ``workspace/sweeps/<name>/ray``. Trials run in
:mod:`sweeplab.tuning._ray_worker`; the outcomes are summed up by the shared ``_finish``.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import socket
import threading
from pathlib import Path
from typing import Any

from ray.tune import Callback

from sweeplab.errors import UserError
from sweeplab.tuning._ray_worker import (
    RAY_TRIAL_TAG,
    RESULT_KEY,
    WorkerSpec,
    sweep_trainable,
    trial_number,
)
from sweeplab.tuning._sweep import SweepOutcome, SweepSettings, SweepSetup, TrialOutcome

__all__ = ["run_ray", "check_ray_settings", "is_local_ray_address"]

RUN_DIR = "ray"  # workspace/sweeps/<name>/ray: Tune's experiment folder (what --resume reads)
_LIVE: dict[str, Any] = {}  # sweep name -> the driver's live _Driver (see _Callback)


# -- checks before anything starts ---------------------------------------------------------
def is_local_ray_address(address: str | None) -> bool:
    """Whether every node of the cluster at ``address`` can only be this machine.

    ``None`` / ``"local"`` start a Ray here. ``"auto"`` and ``host:port`` / ``ray://host:port``
    are local when the host is a loopback address or one of this machine's own names or
    addresses. (A cluster started here may still have nodes elsewhere; ``run_ray`` checks
    the nodes again once connected.)
    """
    if address is None or address.strip().lower() in ("", "local"):
        return True
    text = address.strip()
    if text.lower() == "auto":
        return True
    if "://" in text:
        text = text.split("://", 1)[1]
    host = text.rsplit(":", 1)[0] if text.count(":") == 1 or text.startswith("[") else text
    host = host.strip("[]").split("/")[0]
    return _is_this_host(host)


def _own_addresses() -> set[str]:
    names = {"localhost", socket.gethostname(), socket.getfqdn()}
    addresses = {"127.0.0.1", "::1"}
    for name in list(names):
        try:
            addresses.update(socket.gethostbyname_ex(name)[2])
        except OSError:
            pass
    try:  # the address other hosts see us by (no packet is sent for a UDP connect)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.254.254.254", 1))
            addresses.add(s.getsockname()[0])
    except OSError:
        pass
    return {n.lower() for n in names} | addresses


def _is_this_host(host: str) -> bool:
    host = host.lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host in _own_addresses():
            return True
        try:
            ip = ipaddress.ip_address(socket.gethostbyname(host))
        except OSError:
            return False  # a name we cannot resolve is not this machine
    return ip.is_loopback or str(ip) in _own_addresses()


def _file_store_message(tracking_uri: str, where: str) -> str:
    return (
        f"--tracking-uri {tracking_uri} is a file on this machine, but {where}: trials on "
        "other nodes cannot write to it. Start an MLflow server that every node can reach "
        "(mlflow server --backend-store-uri sqlite:///mlflow.db --host 0.0.0.0) and pass "
        "--tracking-uri http://HOST:5000"
    )


def check_ray_settings(settings: SweepSettings, *, tracking_uri: str) -> None:
    """Reject, before any data is loaded or run created, what cannot work on Ray."""
    from sweeplab.tracking import is_local_uri

    if is_local_uri(tracking_uri) and not is_local_ray_address(settings.ray_address):
        raise UserError(
            _file_store_message(
                tracking_uri, f"--ray-address {settings.ray_address} is a remote cluster"
            )
        )
    if settings.cpus_per_trial <= 0 and settings.gpus_per_trial <= 0:
        raise UserError(
            "--cpus-per-trial and --gpus-per-trial are both 0: a trial needs a CPU or a GPU"
        )
    if settings.gpus_per_trial > 1 and not float(settings.gpus_per_trial).is_integer():
        raise UserError(
            f"--gpus-per-trial above 1 must be a whole number, but got {settings.gpus_per_trial}"
        )


# -- Ray itself ------------------------------------------------------------------------------
def _connect(settings: SweepSettings, say) -> bool:
    """Start or join Ray; returns whether we own the connection (and shut it down after)."""
    import logging

    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no CSV/JSON/TB per trial
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Save Tune's experiment state after every step, so a killed driver loses no finished
    # trial (the state is a few kB per trial).
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "0")
    if ray.is_initialized():
        return False
    common = {"logging_level": logging.WARNING, "log_to_driver": False}
    if settings.ray_address in (None, "", "local"):
        say("status", {"message": "starting a local Ray"})
        ray.init(
            num_cpus=os.cpu_count() or 1,
            include_dashboard=False,
            object_store_memory=256 * 1024**2,
            **common,
        )
    else:
        say("status", {"message": f"joining the Ray cluster at {settings.ray_address}"})
        try:
            ray.init(address=settings.ray_address, **common)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UserError(
                f"cannot join the Ray cluster at --ray-address {settings.ray_address}: "
                f"{str(exc).splitlines()[0][:300]}"
            ) from None
    return True


def _check_cluster(settings: SweepSettings, tracking_uri: str) -> None:
    """The cluster can place a trial, and a file store is only used when every node is here."""
    import ray

    from sweeplab.tracking import is_local_uri

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if is_local_uri(tracking_uri):
        remote = sorted(
            {n["NodeManagerAddress"] for n in nodes if not _is_this_host(n["NodeManagerAddress"])}
        )
        if remote:
            raise UserError(
                _file_store_message(
                    tracking_uri, f"the Ray cluster has nodes on {', '.join(remote)}"
                )
            )
    need = {"CPU": settings.cpus_per_trial, "GPU": settings.gpus_per_trial}
    for res, amount in need.items():
        if amount <= 0:
            continue
        most = max((n["Resources"].get(res, 0.0) for n in nodes), default=0.0)
        if most < amount:
            flag = "--cpus-per-trial" if res == "CPU" else "--gpus-per-trial"
            raise UserError(
                f"{flag} {amount:g} needs a node with {amount:g} {res}(s), but the largest node of "
                f"the Ray cluster has {most:g}; lower {flag} or add a node that has them"
            )


# -- trial numbers and names ------------------------------------------------------------------
class _Numbering:
    """Trial id -> the sweep's trial number (0, 1, 2, ...), kept in the run folder so a
    resumed sweep goes on counting where it stopped."""

    def __init__(self, path: Path, start: int) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.numbers: dict[str, int] = json.loads(path.read_text()) if path.is_file() else {}
        self.next = max([start - 1, *self.numbers.values()]) + 1

    def number(self, trial_id: str) -> int:
        with self.lock:
            if trial_id not in self.numbers:
                self.numbers[trial_id] = self.next
                self.next += 1
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(self.numbers))
                tmp.replace(self.path)
            return self.numbers[trial_id]


class _TrialNames:
    """Tune's ``trial_name_creator``: ``trial_00007``. Pickled into Tune's run folder, so it
    holds only the sweep's name and finds the live numbering through ``_LIVE``."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, trial: Any) -> str:
        return f"trial_{_LIVE[self.key].numbering.number(trial.trial_id):05d}"


def _trial_dirname(trial: Any) -> str:
    return trial.custom_trial_name or f"trial_{trial.trial_id}"


# -- the driver's view of the trials ------------------------------------------------------------
class _Callback(Callback):
    """Progress, and the MLflow end state of trials that the worker could not end itself
    (stopped by ASHA, crashed). Pickled into Tune's run folder: holds only the sweep's name."""

    def __init__(self, key: str) -> None:
        self.key = key

    def on_trial_start(self, iteration, trials, trial, **info):
        _LIVE[self.key].started(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        _LIVE[self.key].result(trial, result)

    def on_trial_complete(self, iteration, trials, trial, **info):
        _LIVE[self.key].ended(trial, error=None)

    def on_trial_error(self, iteration, trials, trial, **info):
        _LIVE[self.key].ended(trial, error=_error_text(trial))

    def on_trial_recover(self, iteration, trials, trial, **info):
        _LIVE[self.key].crashed(trial, retrying=True)


def _error_text(trial: Any) -> str:
    text = ""
    path = getattr(trial, "error_file", None) or getattr(trial, "pickled_error_file", None)
    if path and Path(path).is_file() and not str(path).endswith(".pkl"):
        lines = [ln for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()]
        text = lines[-1] if lines else ""
    return f"the trial's Ray worker crashed: {text or 'see ' + str(path)}"[:1000]


class _Driver:
    """Live state of a running sweep on the driver: numbering, outcomes, progress."""

    def __init__(
        self, setup: SweepSetup, numbering: _Numbering, say, done: dict[str, TrialOutcome]
    ) -> None:
        self.setup, self.numbering, self.say = setup, numbering, say
        self.outcomes = done  # trial id -> outcome (those finished before a resume included)
        self.lock = threading.Lock()

    def started(self, trial: Any) -> None:
        self.say("trial_start", {"number": trial_number(trial.custom_trial_name), "params": {}})

    def result(self, trial: Any, result: dict[str, Any]) -> None:
        if result.get(RESULT_KEY, {}).get("status") == "running" and "epoch" in result:
            metrics = {k: v for k, v in result.items() if isinstance(v, float)}
            self.say("epoch", {"epoch": result["epoch"], "metrics": metrics})

    def crashed(self, trial: Any, *, retrying: bool) -> None:
        why = "the trial's Ray worker crashed" + ("; Tune retries the trial" if retrying else "")
        _end_running_runs(self.setup, trial.trial_id, "killed", why)

    def ended(self, trial: Any, *, error: str | None) -> None:
        outcome = outcome_of(
            self.setup,
            trial.trial_id,
            trial.custom_trial_name,
            trial.config,
            trial.last_result,
            error,
        )
        if outcome.status == "pruned":
            _end_running_runs(self.setup, trial.trial_id, "pruned", outcome.reason)
        elif error is not None:
            _end_running_runs(self.setup, trial.trial_id, "failed", error)
        with self.lock:
            self.outcomes[trial.trial_id] = outcome
            done = list(self.outcomes.values())
        from sweeplab.tuning._optuna import pick_best

        best = pick_best(done, self.setup.objective, self.setup.goal)
        self.say(
            "trial",
            {"outcome": outcome, "done": len(done), "total": self.setup.trials, "best": best},
        )


def outcome_of(
    setup: SweepSetup,
    trial_id: str,
    name: str | None,
    config: dict[str, Any],
    last: dict[str, Any] | None,
    error: str | None,
) -> TrialOutcome:
    """A Tune trial's outcome in the shared form (what ``_finish`` and the CLI show)."""
    last = last or {}
    book = last.get(RESULT_KEY) or {}
    number = book.get("number", trial_number(name))
    try:
        params = setup.space.resolve(config)
    except ValueError:
        params = {}
    status = book.get("status")
    reason = book.get("reason")
    if error is not None:
        status, reason = "failed", error
    elif status in (None, "running"):
        epoch = last.get("epoch")
        status = "pruned"
        reason = (
            f"stopped early by ASHA after epoch {epoch}"
            if epoch
            else "stopped by Tune before its first epoch"
        )
    metrics: dict[str, float] = {}
    if status == "finished":
        skip = {
            "epoch",
            "timestamp",
            "training_iteration",
            "time_this_iter_s",
            "time_total_s",
            "time_since_restore",
            "iterations_since_restore",
            "pid",
        }
        metrics = {
            k: float(v)
            for k, v in last.items()
            if k not in skip
            and isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isfinite(float(v))
        }
    return TrialOutcome(
        number=int(number),
        status=status,
        params=params,
        metrics=metrics,
        reason=reason,
        run_id=book.get("run_id"),
        duration_s=float(last.get("time_total_s", 0.0) or 0.0),
        feasible=bool(book.get("feasible", True)),
    )


def _end_running_runs(setup: SweepSetup, trial_id: str, status: str, reason: str | None) -> None:
    """End the child runs of ``trial_id`` that are still RUNNING (the worker could not)."""
    from sweeplab.tracking import TAG, TrialRun

    client = setup.sweep_run.client
    runs = client.search_runs(
        [setup.sweep_run.experiment_id],
        filter_string=(
            f"tags.`{TAG['parent']}` = '{setup.sweep_run.run_id}' and tags.`{RAY_TRIAL_TAG}` = "
            f"'{trial_id}' and attributes.status = 'RUNNING'"
        ),
        max_results=100,
    )
    for r in runs:
        TrialRun(client, r.info.run_id).finish(status, reason=reason)


# -- the Tuner ------------------------------------------------------------------------------------
def _search_alg(setup: SweepSetup):
    if setup.sampler == "tpe":
        from ray.tune.search.optuna import OptunaSearch

        from sweeplab.tuning._optuna import make_sampler

        # define-by-run: inactive conditional parameters never reach the sampler's model
        return OptunaSearch(
            space=_SuggestFn(setup.space),
            sampler=make_sampler("tpe", seed=setup.seed, constrained=False),
        )
    from ray.tune.search import BasicVariantGenerator

    points = None
    if setup.sampler == "grid":
        # Every grid point once, first; a longer sweep samples the rest at random (as Optuna).
        points = setup.space.grid()[: setup.trials]
    return BasicVariantGenerator(points_to_evaluate=points, random_state=setup.seed)


class _SuggestFn:
    """``space.suggest`` as OptunaSearch's define-by-run function (picklable)."""

    def __init__(self, space: Any) -> None:
        self.space = space

    def __call__(self, trial: Any) -> dict[str, Any]:
        return self.space.suggest(trial)


def _scheduler(setup: SweepSetup):
    s = setup.settings
    if s.scheduler != "asha":
        return None
    from ray.tune.schedulers import ASHAScheduler

    max_t = int(setup.context.project.train.epochs)
    if s.grace_period > max_t:
        raise UserError(
            f"--grace-period {s.grace_period} is longer than a trial ({max_t} epochs): ASHA "
            "could never stop a trial; use a smaller --grace-period"
        )
    return ASHAScheduler(
        time_attr="epoch",
        max_t=max_t,
        grace_period=s.grace_period,
        reduction_factor=s.reduction_factor,
    )


def _trainable(setup: SweepSetup, *, resumed: bool):
    from ray import tune

    s = setup.settings
    spec = WorkerSpec(
        tracking_uri=setup.tracking_uri,
        experiment_id=setup.sweep_run.experiment_id,
        parent_run_id=setup.sweep_run.run_id,
        sweep_name=setup.name,
        space=setup.space,
        objective=setup.objective,
        goal=setup.goal,
        constraints=tuple(setup.constraints),
        flush_each_epoch=s.scheduler == "asha",
        resumed=resumed,
    )
    fn = tune.with_parameters(sweep_trainable, ctx=setup.context, spec=spec)
    resources = {"cpu": s.cpus_per_trial, "gpu": s.gpus_per_trial}
    return tune.with_resources(fn, resources)


def _new_tuner(setup: SweepSetup, run_dir: Path, trials: int):
    from ray import tune

    s = setup.settings
    direction = "min" if setup.goal == "minimize" else "max"
    tune_config = tune.TuneConfig(
        metric=setup.objective,
        mode=direction,
        search_alg=_search_alg(setup),
        scheduler=_scheduler(setup),
        num_samples=trials,
        max_concurrent_trials=s.max_concurrent,
        reuse_actors=True,
        trial_name_creator=_TrialNames(setup.name),
        trial_dirname_creator=_trial_dirname,
    )
    run_config = tune.RunConfig(
        name=run_dir.name,
        storage_path=str(run_dir.parent),
        callbacks=[_Callback(setup.name)],
        failure_config=tune.FailureConfig(max_failures=setup.max_failures or 0),
        checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False),
        verbose=0,
    )
    return tune.Tuner(
        _trainable(setup, resumed=False),
        param_space=setup.space.to_tune(),
        tune_config=tune_config,
        run_config=run_config,
    )


def _children(setup: SweepSetup) -> list[dict[str, Any]]:
    from sweeplab.tracking import sweep_trials

    return sweep_trials(
        setup.sweep_run.client, setup.sweep_run.experiment_id, setup.sweep_run.run_id
    )


def run_ray(setup: SweepSetup, *, progress=None) -> SweepOutcome:
    from ray import tune

    from sweeplab.tuning._optuna import _finish, _kill_orphan_runs

    say = progress or (lambda event, data: None)
    info = setup.workspace.read_sweep(setup.name)
    if setup.resumed and info.get("backend", "ray") != "ray":
        raise UserError(
            f"sweep {setup.name!r} ran with --backend {info.get('backend')}; resume it with that backend"
        )
    run_dir = setup.sweep_dir / RUN_DIR
    owned = _connect(setup.settings, say)
    try:
        _check_cluster(setup.settings, setup.tracking_uri)
        # Child runs left RUNNING by a killed driver: KILLED (their trials run again).
        _kill_orphan_runs(setup)
        finished_before = [
            c for c in _children(setup) if c["status"] in ("finished", "pruned", "failed")
        ]
        start = 1 + max((c["number"] for c in _children(setup)), default=-1)
        numbering = _Numbering(setup.sweep_dir / "ray_trials.json", start)
        driver = _Driver(setup, numbering, say, {})
        _LIVE[setup.name] = driver
        if setup.resumed and tune.Tuner.can_restore(str(run_dir)):
            say("status", {"message": f"resuming the Ray Tune run in {run_dir}"})
            tuner = tune.Tuner.restore(
                str(run_dir),
                trainable=_trainable(setup, resumed=True),
                resume_unfinished=True,
                resume_errored=False,
                restart_errored=False,
            )
        else:
            remaining = max(setup.trials - len(finished_before), 0)
            tuner = _new_tuner(setup, run_dir, remaining) if remaining else None
        say(
            "start",
            {
                "total": setup.trials,
                "done": len(finished_before),
                "best": None,
                "objective": setup.objective,
            },
        )
        outcomes = {}
        if tuner is not None:
            grid = tuner.fit()
            for r in grid:
                name = Path(r.path).name if r.path else None
                trial_id = (r.metrics or {}).get("trial_id") or name
                error = (
                    None
                    if r.error is None
                    else f"the trial's Ray worker crashed: {str(r.error).splitlines()[0][:500]}"
                )
                outcomes[trial_id] = outcome_of(
                    setup, trial_id, name, r.config or {}, r.metrics, error
                )
        if not outcomes or setup.resumed:
            # Trials that a previous driver finished outside this Tune run (killed before
            # Tune saved its state) are in MLflow only.
            known = {o.run_id for o in outcomes.values()}
            for c in finished_before:
                if c["run_id"] not in known:
                    outcomes[c["run_id"]] = _outcome_from_child(setup, c)
    finally:
        _LIVE.pop(setup.name, None)
        if owned:
            import ray

            ray.shutdown()
    # "best" by the same rule as the Optuna backend (finished, feasible, finite): _finish.
    return _finish(setup, sorted(outcomes.values(), key=lambda o: o.number), None)


def _outcome_from_child(setup: SweepSetup, c: dict[str, Any]) -> TrialOutcome:
    return TrialOutcome(
        number=c["number"],
        status=c["status"],
        params=setup.space.resolve({k: _parse(v) for k, v in c["params"].items()})
        if c["params"]
        else {},
        metrics=dict(c["metrics"]),
        reason=c["reason"],
        run_id=c["run_id"],
        duration_s=c["duration_s"],
        feasible=c["feasible"],
    )


def _parse(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text
