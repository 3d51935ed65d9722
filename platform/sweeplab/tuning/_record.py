"""Recording a trial's life in MLflow; shared by the Optuna and the Ray backends."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from sweeplab.models import CHECKPOINT_ARTIFACT, save_checkpoint
from sweeplab.tracking import (
    FIXED_TASK_PREFIX,
    SweepRun,
    TrialRun,
    TrialStatus,
    is_fixed_param,
)

__all__ = [
    "FIXED_TASK_PREFIX",
    "TrialRecorder",
    "failure_reason",
    "trial_run_name",
    "finite_summary",
    "is_fixed_param",
]


def trial_run_name(sweep: str, number: int, params: dict[str, Any], *, keys: int = 2) -> str:
    """``digits-mlp-20261126-0912 #7 lr=3.2e-03 optimizer=adam`` — says what the run is."""
    shown = []
    for name, value in list(params.items())[:keys]:
        if isinstance(value, float):
            shown.append(f"{name}={value:.2g}")
        else:
            shown.append(f"{name}={value}")
    return f"{sweep} #{number}" + (" " + " ".join(shown) if shown else "")


def failure_reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    name = type(exc).__name__
    if "out of memory" in text.lower() or name in ("OutOfMemoryError", "MemoryError"):
        return f"out of memory: {text.splitlines()[0][:300]}"
    if name in ("UserError", "DivergedError"):
        return text[:1000]
    return f"{name}: {text.splitlines()[0][:1000]}"


def finite_summary(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}


@dataclass
class TrialRecorder:
    """A trial's child run: params at the start, buffered epoch metrics, status at the end."""

    run: TrialRun
    last_epoch: int = 0
    last_metrics: dict[str, float] | None = None

    @classmethod
    def start(
        cls,
        sweep: SweepRun,
        *,
        number: int,
        params: dict[str, Any],
        tags: dict[str, Any] | None = None,
        key: str | None = None,
        fixed: dict[str, Any] | None = None,
    ) -> TrialRecorder:
        """``key``: the run's outbox key, recorded by the backend before the run is created so
        that a sweep killed in between can still find the run (tag ``sweeplab.run_key``).
        ``fixed``: the settings the trial did not sample (``fixed_settings``), logged in the
        same batch as ``params``."""
        run = sweep.start_trial(
            number=number, name=trial_run_name(sweep.name, number, params), tags=tags, key=key
        )
        run.log_params({**params, **(fixed or {})})
        return cls(run)

    @property
    def run_id(self) -> str | None:
        """None while the tracking store has not answered (the outbox creates the run later)."""
        return self.run.outbox.run_id(self.run.key) or self.run.run_id

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        # ``epoch`` is the step itself: logging it as a metric too would add a tenth to the
        # values each trial sends (each costs ~80 µs in MLflow's SQLite store).
        self.run.log_metrics({k: v for k, v in metrics.items() if k != "epoch"}, step=epoch)
        self.last_epoch, self.last_metrics = epoch, dict(metrics)

    def finished(self, metrics: dict[str, float], *, tags: dict[str, Any] | None = None) -> None:
        """Final values are logged at the last epoch's step, after its values, so they are
        what the MLflow UI shows as the run's metric (MLflow's "latest" = highest step, then
        newest timestamp). Only values that differ from the last epoch's are sent: with early
        stopping the model holds the best epoch's weights, so its errors are the final ones."""
        last = self.last_metrics or {}
        summary = {k: v for k, v in finite_summary(metrics).items() if last.get(k) != v}
        if summary:
            self.run.log_metrics(summary, step=self.last_epoch, after_last=True)
        self.run.finish(TrialStatus.FINISHED, tags=tags)

    def log_checkpoint(self, state_dict: dict[str, Any]) -> None:
        """Log trained weights as the artifact ``model/state_dict.pt`` (train.save_checkpoint)."""
        import tempfile
        from pathlib import Path

        folder, name = CHECKPOINT_ARTIFACT.rsplit("/", 1)
        if self.run_id is None:  # the tracking store is away; the run's records are queued
            logging.getLogger(__name__).warning(
                "sweeplab: checkpoint not logged: the tracking store did not answer"
            )
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = save_checkpoint(state_dict, Path(tmp) / name)
            try:
                self.run.client.log_artifact(self.run_id, str(path), artifact_path=folder)
            except Exception as exc:  # noqa: BLE001 - an artifact must not cost the trial its record
                logging.getLogger(__name__).warning("sweeplab: checkpoint not logged: %s", exc)

    def log_artifacts(self, artifacts: dict[str, bytes]) -> None:
        """Log ``{artifact path: content}`` to the run (style/generated.png, analysis/*.csv)."""
        import tempfile
        from pathlib import Path, PurePosixPath

        if not artifacts:
            return
        if self.run_id is None:  # the tracking store is away; the run's records are queued
            logging.getLogger(__name__).warning(
                "sweeplab: %d artifact(s) not logged: the tracking store did not answer",
                len(artifacts),
            )
            return
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in artifacts.items():
                rel = PurePosixPath(name)
                if rel.is_absolute() or ".." in rel.parts:
                    raise ValueError(f"artifact paths must be relative, but got {name!r}")
                path = Path(tmp, *rel.parts)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
                folder = str(rel.parent) if str(rel.parent) != "." else None
                try:
                    self.run.client.log_artifact(self.run_id, str(path), artifact_path=folder)
                except Exception as exc:  # noqa: BLE001 - an artifact must not cost the trial its record
                    logging.getLogger(__name__).warning(
                        "sweeplab: artifact %s not logged: %s", name, exc
                    )

    def pruned(self, epoch: int) -> None:
        self.run.finish(
            TrialStatus.PRUNED, reason=f"stopped early by the pruner after epoch {epoch}"
        )

    def failed(self, reason: str) -> None:
        self.run.finish(TrialStatus.FAILED, reason=reason)

    def killed(self, reason: str = "the sweep was interrupted while this trial ran") -> None:
        self.run.finish(TrialStatus.KILLED, reason=reason)
