"""The report of a vision-task or multi-label trial, built from what the trial logged.

Detection, segmentation and verification trials log their errors (``train_error``,
``dev_error`` = 1 − the task's measure) and their error-analysis tables as artifacts
(``analysis/detection_errors.json``, ``analysis/segmentation_iou.json``,
``analysis/verification_confusion.json``, ``analysis/localization_errors.json``,
``analysis/landmark_distances.json``); a style-transfer trial logs J(G) and
``style/*.png``; a multi-label trial logs each label's error. A report reads those back: no
model is loaded and nothing is re-trained. Only the final evaluation needs the model
(``_task_final``).

Nothing here writes files or logs: ``_report.py`` renders and writes.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sweeplab.analysis import diagnose
from sweeplab.config.project import ProjectFile
from sweeplab.errors import UserError
from sweeplab.files import STATE, read_bounded
from sweeplab.reports._evaluate import TrialRef
from sweeplab.tasks import TASKS, ReportTable, Task, load_project, task_spec
from sweeplab.tracking import FIXED_TASK_PREFIX

__all__ = ["TaskReportData", "build_task_report", "project_task"]


@dataclass
class TaskReportData:
    """Everything a task report shows."""

    name: str
    sweep: str
    trial: int
    run_id: str
    task: str
    params: dict[str, Any]  # sampled
    fixed: dict[str, Any]  # logged task.<name> settings the trial did not sample
    objective: str
    goal: str
    objective_value: float | None
    constraints: str
    feasible: bool
    final: bool
    dataset: str
    diagnosis: Any  # analysis.Diagnosis, None for style transfer (no dev set)
    human_note: str | None
    headline: list[tuple[str, float]]
    tables: list[ReportTable] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)  # (caption, data URI)
    final_metrics: dict[str, float] = field(default_factory=dict)
    model_source: str | None = None  # of the final evaluation: "cached" | "retrained"
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: what was analysed and what the report concluded."""
        return {
            "name": self.name,
            "sweep": self.sweep,
            "trial": self.trial,
            "run_id": self.run_id,
            "task": self.task,
            "params": self.params,
            "fixed": self.fixed,
            "objective": {"name": self.objective, "goal": self.goal, "value": self.objective_value},
            "constraints": self.constraints,
            "feasible": self.feasible,
            "final": self.final,
            "model_source": self.model_source,
            "diagnosis": None if self.diagnosis is None else self.diagnosis.as_dict(),
            "metrics": dict(self.headline),
            "final_metrics": self.final_metrics,
            "tables": {t.id: _records(t.frame) for t in self.tables},
            "images": [caption for caption, _ in self.images],
            "notes": self.notes,
        }


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    def plain(v: Any) -> Any:
        if isinstance(v, np.integer):
            return int(v)
        if isinstance(v, float | np.floating):
            return float(v) if math.isfinite(float(v)) else None
        return v

    return [{str(k): plain(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def project_task(ref: TrialRef) -> tuple[ProjectFile, Task | None]:
    """(the sweep's project file, its task; None while the data decides between binary and
    multiclass) — the task decides which report a trial gets."""
    path = Path(ref.info["project"])
    if not path.is_file():
        raise UserError(
            f"the project file of sweep {ref.sweep!r} is gone; the report needs it", file=str(path)
        )
    pf = load_project(path)
    return pf, task_spec(pf.project)


def _download(client: Any, run_id: str, path: str) -> bytes | None:
    try:
        folder = path.rsplit("/", 1)[0]
        if path not in {a.path for a in client.list_artifacts(run_id, folder)}:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            return read_bounded(client.download_artifacts(run_id, path, tmp), STATE)
    except Exception:  # noqa: BLE001 - an unreadable artifact store: the report says it is missing
        return None


# ------------------------------------------------------------------------------ the report


def build_task_report(
    ref: TrialRef,
    pf: Any,
    task: str,
    client: Any,
    *,
    final: Any = None,
) -> TaskReportData:
    """The report of a vision-task or multi-label trial from its logged metrics and artifacts.

    ``final``: the trial's :class:`~sweeplab.reports._task_final.FinalEvaluation` when the
    report is a final one (its test rung joins the ladder).
    """
    m = ref.metrics
    notes: list[str] = list(final.notes) if final is not None else []
    diagnosis = None
    spec = TASKS.get(task)
    if spec.dev_set:
        if "train_error" in m and "dev_error" in m:
            diagnosis = diagnose(
                human=pf.project.human_level_error.error if pf.project.human_level_error else None,
                train=m["train_error"],
                train_dev=m.get("train_dev_error"),
                dev=m["dev_error"],
                test=m.get("test_error"),
            )
        else:
            notes.append("the trial logged no train_error / dev_error: no diagnosis")
    headline = [(k, m[k]) for k in spec.headline if k in m and math.isfinite(m[k])]
    tables, images, more = spec.report_tables(
        m, lambda path: _download(client, ref.run_id, path), pf, ref.sweep_dir
    )
    notes += more
    hl = pf.project.human_level_error
    params = dict(ref.params)
    fixed = {
        k[len(FIXED_TASK_PREFIX) :]: v
        for k, v in ref.fixed.items()
        if k.startswith(FIXED_TASK_PREFIX)
    }
    return TaskReportData(
        name=ref.name,
        sweep=ref.sweep,
        trial=ref.number,
        run_id=ref.run_id,
        task=task,
        params=params,
        fixed=fixed,
        objective=ref.objective,
        goal=ref.goal,
        objective_value=m.get(ref.objective),
        constraints="; ".join(pf.project.metrics.satisfy) or "none",
        feasible=ref.feasible,
        final=final is not None,
        dataset=pf.project.data.source,
        diagnosis=diagnosis,
        human_note=hl.note if hl else None,
        headline=headline,
        tables=tables,
        images=images,
        final_metrics=dict(final.metrics) if final is not None else {},
        model_source=final.model_source if final is not None else None,
        notes=notes,
    )
