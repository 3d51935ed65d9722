"""What a sweep is asked to do (:class:`SweepSettings`) and what it sets up once for its
backend (:class:`SweepSetup`), with the small rules both backends read from them."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeplab.analysis import Constraint, Objective
from sweeplab.config.project import ProjectFile
from sweeplab.errors import UserError
from sweeplab.space import SearchSpace
from sweeplab.tasks import SweepContext
from sweeplab.tracking import SweepRun
from sweeplab.workspace import Workspace

__all__ = ["SweepSettings", "SweepSetup", "objective_value", "trial_epochs"]


@dataclass(frozen=True)
class SweepSettings:
    """What `sweeplab sweep` was asked to do (command-line flags override the project file)."""

    project_path: Path
    space_path: Path | None = None
    trials: int | None = None
    sampler: str | None = None
    pruner: str | None = None
    name: str | None = None
    seed: int | None = None
    workspace: Path | None = None
    tracking_uri: str | None = None
    backend: str = "optuna"
    resume: bool = False
    max_failures: int | None = None
    # Ray backend options (ignored by optuna; rejected there when set, see cli)
    ray_address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    scheduler: str | None = None
    # Early stopping by rungs: Ray's `--scheduler asha` and Optuna's `--pruner
    # successive_halving | hyperband` (no trial stops before grace_period epochs; each rung
    # keeps 1/reduction_factor of the trials). On --resume the sweep's own values are used.
    # 3 epochs: on the digits MLP space (benchmarks/bench_search.py, 12-epoch trials) a grace
    # period of 1 or 2 stopped the eventual best trial on some seeds; 3 kept it on every seed.
    grace_period: int = 3
    reduction_factor: int = 3
    # What the runs keep beside metrics (None: the project's tracking: section)
    log_models: str | None = None  # all | best | none
    system_metrics: bool | None = None
    # Extra tags on the sweep's parent run (e.g. sweeplab.refined_from by `sweeplab refine`).
    parent_tags: dict[str, str] = field(default_factory=dict)
    # Configurations (user names) that run first, before the sampler's own: the parent sweep's
    # best trials (`sweeplab next`). A parameter a configuration lacks is drawn as usual.
    warm_start: tuple[dict[str, Any], ...] = ()
    # The Optuna study on a shared database (None: a journal file in the sweep's folder).
    study_storage: str | None = None
    # Optuna backend: worker processes on this machine (the driver is one of them), and
    # `join`: this process is a worker of a sweep another process drives.
    jobs: int = 1
    join: bool = False


@dataclass
class SweepSetup:
    """Everything a backend needs to run the sweep's trials."""

    settings: SweepSettings
    project_file: ProjectFile
    space: SearchSpace
    space_path: Path | None
    name: str
    workspace: Workspace
    sweep_dir: Path
    tracking_uri: str
    trials: int
    sampler: str
    pruner: str
    seed: int
    max_failures: int | None
    context: SweepContext
    sweep_run: SweepRun
    objective: Objective
    constraints: list[Constraint]
    resumed: bool
    study_storage: str | None = None  # the shared database of the study (None: its journal)
    worker: bool = False  # joined a sweep another process drives: no parent-run writes
    workers: Any = None  # the driver's --jobs workers (tuning/_workers.py), if any
    started: float = field(default_factory=time.monotonic)


def trial_epochs(project: Any, space: Any) -> int | None:
    """The epochs every trial trains (the project's ``train.epochs``), or None when the
    search space sets them per trial."""
    if "epochs" in space.names:
        return None
    return int(project.train.epochs)


def objective_value(metrics: dict[str, float], name: str) -> float:
    value = metrics.get(name)
    if value is None:
        raise UserError(f"the trial did not report the optimizing metric {name!r}")
    value = float(value)
    if not math.isfinite(value):
        raise UserError(f"the optimizing metric {name!r} is {value} (not finite)")
    return value
