"""Before a sweep is resumed: its stores are the ones it ran on. A sweep keeps its state in
two places, the backend's (the Optuna journal, or Ray Tune's run folder) and the tracking
store's (the experiment and the parent run); a resume that found one of them gone or replaced
would run finished trials again, or record new ones under a parent that no longer exists.
Either is refused with one line naming the store; nothing is written first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweeplab.errors import UserError
from sweeplab.tracking import TAG
from sweeplab.tuning._study import JOURNAL, redact

__all__ = ["check_resumable"]

_RAY_RUN_DIR = "ray"  # tuning/_ray.py RUN_DIR: Tune's experiment folder
_FIX = "restore it from a backup, or start a new sweep (another --name)"


def check_resumable(
    client: Any,
    *,
    info: dict[str, Any],
    experiment: str,
    sweep_dir: Path,
    tracking_uri: str,
    study_storage: str | None,
) -> None:
    """One line (exit 2) unless the tracking store still holds the sweep's experiment and
    parent run, and the backend's state is there whenever the tracking store holds trials."""
    from mlflow.exceptions import MlflowException

    name = info.get("name") or sweep_dir.name
    where = f"the tracking store {redact(tracking_uri)}"
    exp = client.get_experiment_by_name(experiment)
    recorded = str(info.get("experiment_id", ""))
    if exp is None or (recorded and exp.experiment_id != recorded):
        found = "is not in" if exp is None else f"has another id ({exp.experiment_id}) in"
        raise UserError(
            f"cannot resume sweep {name!r}: its MLflow experiment {experiment!r} (id "
            f"{recorded or '?'}) {found} {where}: the store was replaced or wiped; {_FIX}"
        )
    parent = info.get("parent_run_id")
    try:
        run = client.get_run(parent)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        run = None
    if run is None or run.info.lifecycle_stage == "deleted":
        raise UserError(
            f"cannot resume sweep {name!r}: its parent run {parent} is "
            f"{'deleted in' if run else 'not in'} {where}; {_FIX}"
        )
    if study_storage is not None:
        return  # a shared study database: Optuna answers for it when it is opened
    state = (
        sweep_dir / _RAY_RUN_DIR if info.get("backend", "optuna") == "ray" else sweep_dir / JOURNAL
    )
    if _present(state):
        return
    trials = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`{TAG['sweep']}` = '{name}' and tags.`{TAG['kind']}` = 'trial'",
        max_results=1000,
    )
    if trials:
        what = "Ray Tune run folder" if state.name == _RAY_RUN_DIR else "Optuna study"
        raise UserError(
            f"cannot resume sweep {name!r}: its {what} {state} is gone or empty, but {where} "
            f"holds {len(trials)}{'+' if len(trials) == 1000 else ''} of its trials (resuming "
            f"would run them again); {_FIX}"
        )


def _present(path: Path) -> bool:
    if path.is_dir():
        return any(path.iterdir())
    return path.is_file() and path.stat().st_size > 0
