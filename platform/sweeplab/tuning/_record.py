"""Recording a trial's life in MLflow; shared by the Optuna and the Ray backends."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from sweeplab.models import CHECKPOINT_ARTIFACT, save_checkpoint
from sweeplab.tasks import RunParams
from sweeplab.tracking import TAG, SweepRun, TrialRun, TrialStatus

__all__ = [
    "TrialRecorder",
    "failure_reason",
    "trial_run_name",
    "finite_summary",
]

#: Short names of the common settings in run names; ``optimizer`` shows its value alone.
RUN_NAME_ALIASES = {
    "learning_rate": "lr",
    "hidden_units": "h",
    "batch_size": "bs",
    "keep_prob": "keep",
    "num_layers": "layers",
    "optimizer": "",
}


def trial_run_name(number: int, params: dict[str, Any], *, keys: int = 3) -> str:
    """``#7 lr=3.2e-3 adam h=256``: the trial's number and its first ``keys`` sampled
    settings, short (the sweep is the parent run: its name is not repeated)."""
    shown = []
    for name, value in list(params.items())[:keys]:
        alias = RUN_NAME_ALIASES.get(name, name)
        shown.append(f"{alias}={_short(value)}" if alias else _short(value))
    return " ".join([f"#{number}", *shown])


def _short(value: Any) -> str:
    """3.2e-3, 0.25, 0.999, 1062, 2.5e4, adam: a few significant digits, no padded exponent."""
    if not isinstance(value, float) or not math.isfinite(value) or value == 0:
        return str(value)
    if abs(value) < 1e-2 or abs(value) >= 1e4:
        mantissa, _, exponent = f"{value:.1e}".partition("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


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


# the step itself, and figures of an epoch's training rather than of the model it left
_OF_TRAINING = frozenset({"epoch", "lr", "epoch_time_s"})


@dataclass
class TrialRecorder:
    """A trial's child run: params at the start, buffered epoch metrics, status at the end."""

    run: TrialRun
    last_epoch: int = 0
    last_metrics: dict[str, float] | None = None
    history_keys: set[str] = field(default_factory=set)  # the metrics logged per epoch

    @classmethod
    def start(
        cls,
        sweep: SweepRun,
        *,
        number: int,
        params: dict[str, Any],
        settings: RunParams | None = None,
        tags: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> TrialRecorder:
        """``params``: the sampled settings by name (they name the run). ``settings``: what the
        run logs (``tasks.run_params``: every setting under its ``<group>.<name>`` key, the
        sampled keys in the tag ``sweeplab.sampled``, the device in ``sweeplab.device``;
        ``tags`` may say better where the trial runs); without it ``params`` as they are.
        ``key``: the run's outbox key, recorded by the backend before the run is created so
        that a sweep killed in between can still find the run (tag ``sweeplab.run_key``)."""
        if settings is None:
            settings = RunParams(dict(params), tuple(params), device="")
        head = {TAG["sampled"]: ",".join(settings.sampled)}
        if settings.device:
            head[TAG["device"]] = settings.device
        run = sweep.start_trial(
            number=number,
            name=trial_run_name(number, params),
            tags={**head, **(tags or {})},
            key=key,
        )
        run.log_params(settings.values)
        return cls(run)

    @property
    def run_id(self) -> str | None:
        """None while the tracking store has not answered (the outbox creates the run later)."""
        return self.run.outbox.run_id(self.run.key) or self.run.run_id

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        # ``epoch`` is the step itself: logging it as a metric too would add a tenth to the
        # values each trial sends (each costs ~80 µs in MLflow's SQLite store).
        values = {k: v for k, v in metrics.items() if k != "epoch"}
        self.run.log_metrics(values, step=epoch)
        self.last_epoch, self.last_metrics = epoch, dict(metrics)
        self.history_keys.update(values)

    def finished(self, metrics: dict[str, float], *, tags: dict[str, Any] | None = None) -> None:
        """The figures of the model the trial kept, so that each metric's latest value (what
        the MLflow UI, ``search_runs`` and ``sweeplab runs`` show) is the model's, with one
        value per step in every history (MLflow's Keras autolog does the same when early
        stopping restores the best weights):

        - a per-epoch metric whose final value is the last epoch's is not logged again;
        - one whose final value differs (early stopping restored an earlier epoch's weights:
          ``best_epoch``) is logged once more at the step after the last epoch;
        - the values that are not per epoch (``latency_ms``, ``best_epoch``, the diagnosis
          gaps …) are logged once, at that same final step;
        - the figures of the training rather than of the model (``lr``, ``epoch_time_s``)
          keep the last epoch's as their latest."""
        last = self.last_metrics or {}
        values = {k: v for k, v in finite_summary(metrics).items() if k not in _OF_TRAINING}
        restored = {k: v for k, v in values.items() if k in self.history_keys and last.get(k) != v}
        single = {k: v for k, v in values.items() if k not in self.history_keys}
        step = self.last_epoch + 1 if restored else self.last_epoch
        if restored or single:
            self.run.log_metrics({**restored, **single}, step=step)
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
