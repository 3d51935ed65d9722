"""MLflow's system metrics for a run sweeplab created with ``MlflowClient``.

``mlflow.start_run(log_system_metrics=True)`` starts a
:class:`mlflow.system_metrics.system_metrics_monitor.SystemMetricsMonitor` for the fluent
run; sweeplab's runs are made by ``MlflowClient`` (a trial may run in a Ray worker), so it
starts the same monitor for the trial's run id: ``system/cpu_utilization_percentage``,
``system/system_memory_usage_megabytes``, disk and network, and with ``nvidia-ml-py`` (the
``gpu`` extra; MLflow imports it as ``pynvml``) ``system/gpu_0_utilization_percentage`` and
``system/gpu_0_memory_usage_megabytes``. The sampling interval is MLflow's (10 s, or
``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL``); MLflow drops the samples of an interval that
the run's end cuts short, so :meth:`SystemMetrics.stop` logs one last sample: a trial shorter
than the interval still gets its system metrics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

__all__ = ["SystemMetrics"]

_log = logging.getLogger(__name__)


@dataclass
class SystemMetrics:
    """A running monitor of one run (:meth:`start`), stopped by :meth:`stop`."""

    monitor: Any

    @classmethod
    def start(cls, tracking_uri: str, run_id: str | None) -> SystemMetrics | None:
        """None when the run is not created yet or psutil is missing (said once, as a warning)."""
        if run_id is None:
            return None
        try:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            # MLflow says at INFO that it starts, stops and skips the GPU: once per trial.
            logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)
            monitor = SystemMetricsMonitor(run_id, tracking_uri=tracking_uri)
        except Exception as exc:  # noqa: BLE001 - psutil missing: the trial goes on without
            _log.warning("sweeplab: no system metrics: %s", exc)
            return None
        monitor.start()
        return cls(monitor)

    def stop(self) -> None:
        """Stop the monitor and log the last sample (before the run ends)."""
        m = self.monitor
        try:
            m.finish()
            m.collect_metrics()
            m.publish_metrics(m.aggregate_metrics())
            m.mlflow_logger.flush()
        except Exception as exc:  # noqa: BLE001 - the store went away; the run's records go on
            _log.warning("sweeplab: last system metrics not logged: %s", exc)
