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

import base64
import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sweeplab.reports._evaluate import TrialRef

__all__ = [
    "HEADLINE_METRICS",
    "TASK_REPORTS",
    "ReportTable",
    "TaskReportData",
    "build_task_report",
    "project_task",
]

#: The task's headline metric (what `sweeplab runs` and the reports show first).
HEADLINE_METRICS: dict[str, tuple[str, ...]] = {
    "detection": ("dev_map", "dev_missed", "dev_false_positives"),
    "segmentation": ("dev_mean_iou",),
    "verification": ("dev_verification_accuracy", "one_shot_accuracy", "tau"),
    "style_transfer": ("cost_ratio", "initial_cost", "total_cost", "content_cost", "style_cost"),
    "localization": ("dev_presence_error", "dev_box_iou"),
    "landmarks": ("dev_landmark_distance",),
    "multilabel": (),
}
#: Tasks whose reports come from the logged metrics and artifacts (this module).
TASK_REPORTS = frozenset(HEADLINE_METRICS)

_ARTIFACTS = {
    "detection": "analysis/detection_errors.json",
    "segmentation": "analysis/segmentation_iou.json",
    "verification": "analysis/verification_confusion.json",
    "localization": "analysis/localization_errors.json",
    "landmarks": "analysis/landmark_distances.json",
}
_STYLE_IMAGES = (
    ("style/content.png", "content C"),
    ("style/style.png", "style S"),
    ("style/generated.png", "generated G"),
)


@dataclass
class ReportTable:
    """A rendered table: ``cells`` are display strings; ``frame`` the numbers (JSON, CSV)."""

    id: str
    title: str
    note: str
    frame: pd.DataFrame
    header: list[str]
    cells: list[list[str]]
    left: int = 1  # the first ``left`` columns are text


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


def project_task(ref: TrialRef) -> tuple[Any, str | None]:
    """(the sweep's project file, its task) — the task decides which report a trial gets."""
    from sweeplab.config.project import task_of
    from sweeplab.data import load_checked_project
    from sweeplab.errors import UserError

    path = Path(ref.info["project"])
    if not path.is_file():
        raise UserError(
            f"the project file of sweep {ref.sweep!r} is gone; the report needs it", file=str(path)
        )
    pf = load_checked_project(path)
    return pf, task_of(pf.project)


def _pct(x: Any) -> str:
    from sweeplab.reports._report import pct

    return pct(x)


def _num(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float | np.floating) and not math.isfinite(float(x))):
        return "–"
    if isinstance(x, float | np.floating):
        return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{float(x):.{digits}g}"
    return str(x)


def _table(
    id: str,  # noqa: A002 - the HTML id
    title: str,
    note: str,
    frame: pd.DataFrame,
    formats: dict[str, Any],
    *,
    left: int = 1,
) -> ReportTable:
    cols = list(formats)
    cells = [[formats[c](row[c]) for c in cols] for _, row in frame.iterrows()]
    return ReportTable(id, title, note, frame.reset_index(drop=True), cols, cells, left)


def _download(client: Any, run_id: str, path: str) -> bytes | None:
    try:
        folder = path.rsplit("/", 1)[0]
        if path not in {a.path for a in client.list_artifacts(run_id, folder)}:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            return Path(client.download_artifacts(run_id, path, tmp)).read_bytes()
    except Exception:  # noqa: BLE001 - an unreadable artifact store: the report says it is missing
        return None


# ------------------------------------------------------------------------------ per task


def _detection_tables(frame: pd.DataFrame) -> list[ReportTable]:
    every = frame[frame["size"] == "all"]
    sized = frame[frame["size"] != "all"]
    n = int(every["objects"].sum())
    missed = int(every["missed"].sum())
    fp = int(every["false_positives"].sum())
    by_class = every.assign(
        pct_of_missed=every["missed"] / missed if missed else 0.0,
        ceiling=1.0 - every["ap"],  # what the class's AP leaves on the table
    )
    return [
        _table(
            "detection-by-class",
            "Detection errors by shape class (dev)",
            f"{n} dev objects, {missed} missed, {fp} false positives (detections scoring ≥ 0.5 "
            "count as answers). AP@0.5 per class; mAP is their mean, so a class with AP a "
            "caps the mAP gain of fixing it at (1 − a) / classes.",
            by_class,
            {
                "class": str,
                "objects": _num,
                "found": _num,
                "missed": _num,
                "miss_rate": _pct,
                "pct_of_missed": _pct,
                "false_positives": _num,
                "ap": lambda v: _num(v, 3),
            },
        ),
        _table(
            "detection-by-size",
            "Missed objects by shape class and size bucket (dev)",
            "Size = √(h·w) relative to the image: small < 0.3 ≤ medium < 0.4 ≤ large. Which "
            "mistakes are worth fixing: the largest share of missed objects first.",
            sized.assign(pct_of_missed=sized["missed"] / missed if missed else 0.0),
            {
                "class": str,
                "size": str,
                "objects": _num,
                "found": _num,
                "missed": _num,
                "miss_rate": _pct,
                "pct_of_missed": _pct,
            },
            left=2,
        ),
    ]


def _segmentation_tables(frame: pd.DataFrame) -> list[ReportTable]:
    k = int(frame["iou"].notna().sum()) or 1
    frame = frame.assign(
        ceiling=(1.0 - frame["iou"]) / k,
        over_predicted=frame["predicted_pixels"]
        / frame["true_pixels"].where(frame["true_pixels"] > 0),
    )
    return [
        _table(
            "segmentation-iou",
            "IoU by class (dev pixels)",
            "Mean IoU averages the classes present: raising class c's IoU to 1 would lower "
            "dev_error by its ceiling (1 − IoU_c) / classes. predicted / true > 1: the class "
            "bleeds into its neighbours; < 1: it is missed.",
            frame,
            {
                "class": str,
                "iou": lambda v: _num(v, 3),
                "true_pixels": _num,
                "predicted_pixels": _num,
                "over_predicted": lambda v: _num(v, 3),
                "ceiling": _pct,
            },
        )
    ]


def _localization_tables(frame: pd.DataFrame) -> list[ReportTable]:
    n, errors = int(frame["images"].sum()), int(frame["errors"].sum())
    return [
        _table(
            "localization-by-class",
            "Localization errors by true class (dev images)",
            f"{n} dev images, {errors} wrong (dev_error = {errors}/{n}). An image with an object "
            "is missed (p_c < 0.5), of the wrong class, or boxed badly (IoU < 0.5); an empty "
            "image called present is a false alarm. Fix the largest share of errors first.",
            frame,
            {
                "class": str,
                "images": _num,
                "correct": _num,
                "missed": _num,
                "wrong_class": _num,
                "bad_box": _num,
                "false_alarm": _num,
                "error_rate": _pct,
                "pct_of_errors": _pct,
            },
        )
    ]


def _landmark_tables(frame: pd.DataFrame) -> list[ReportTable]:
    return [
        _table(
            "landmark-distances",
            "Distance by landmark (dev)",
            "Distances are relative to the image side (0.05 = 5% of it), not rates. dev_error "
            "is the mean over every landmark, so a perfect landmark would lower it by its "
            "ceiling (its mean / landmarks).",
            frame,
            {
                "landmark": _num,
                "name": str,
                "mean_distance": lambda v: _num(v, 3),
                "median_distance": lambda v: _num(v, 3),
                "ceiling": lambda v: _num(v, 3),
            },
            left=2,
        )
    ]


def _verification_tables(conf: dict[str, Any]) -> list[ReportTable]:
    same = conf["same_called_same"] + conf["same_called_different"]
    diff = conf["different_called_same"] + conf["different_called_different"]
    frame = pd.DataFrame(
        {
            "pairs": ["same identity", "different identities"],
            "count": [same, diff],
            "called_same": [conf["same_called_same"], conf["different_called_same"]],
            "called_different": [conf["same_called_different"], conf["different_called_different"]],
            "error_rate": [conf["false_reject_rate"], conf["false_accept_rate"]],
        }
    )
    frame["errors"] = [conf["same_called_different"], conf["different_called_same"]]
    total = int(frame["errors"].sum())
    frame["pct_of_errors"] = frame["errors"] / total if total else 0.0
    return [
        _table(
            "verification-confusion",
            f"Same / different at τ = {conf['tau']:.4g} (dev pairs)",
            "τ was chosen on these dev pairs (balanced: chance is 50%). False rejects are same-"
            "identity pairs called different; false accepts the other way round. "
            f"One-shot recognition ran on {conf.get('one_shot_queries', '?')} dev queries.",
            frame,
            {
                "pairs": str,
                "count": _num,
                "called_same": _num,
                "called_different": _num,
                "errors": _num,
                "error_rate": _pct,
                "pct_of_errors": _pct,
            },
        )
    ]


_FRAME_TABLES = {
    "detection": _detection_tables,
    "segmentation": _segmentation_tables,
    "localization": _localization_tables,
    "landmarks": _landmark_tables,
}


def _multilabel_tables(ref: TrialRef, pf: Any) -> tuple[list[ReportTable], list[str]]:
    """The per-label table from the logged rates and the dev split's labels (no model)."""
    from sweeplab.analysis import multilabel_table_from_rates
    from sweeplab.data import SplitManifest, load_dataset

    manifest_path = ref.sweep_dir / "splits.json"
    if not manifest_path.is_file():
        return [], [f"the split manifest {manifest_path} is gone: no per-label table"]
    ds = load_dataset(pf.project.data, base_dir=pf.base_dir)
    manifest = SplitManifest.from_json(manifest_path)
    labels = [str(c) for c in ds.classes]
    notes = []
    if manifest.fingerprint != ds.fingerprint():
        notes.append(
            "the data changed since the sweep ran (fingerprint mismatch): the labeled counts "
            "are those of the data now"
        )
    rates = {
        name: ref.metrics[f"dev_error_{name}"]
        for name in labels
        if f"dev_error_{name}" in ref.metrics
    }
    frame = multilabel_table_from_rates(ds.y[manifest.splits["dev"]], rates, labels)
    fmt: dict[str, Any] = {
        "label": str,
        "labeled": _num,
        "unlabeled": _num,
        "positives": _num,
        "errors": _num,
        "error_rate": _pct,
        "pct_of_errors": _pct,
        "ceiling": _pct,
    }
    for split in ("train", "train_dev"):  # each label's own ladder: bias or variance?
        col = f"{split}_error"
        frame[col] = [ref.metrics.get(f"{split}_error_{name}", math.nan) for name in labels]
        if frame[col].notna().any():
            fmt[col] = _pct
    missing = [name for name in labels if name not in rates]
    if missing:
        notes.append(f"the trial logged no dev error for label(s) {', '.join(missing)}")
    n_dev = len(manifest.splits["dev"])
    table = _table(
        "multilabel-errors",
        "Errors by label (dev)",
        f"{n_dev} dev examples × {len(labels)} labels; unlabeled entries count neither in the "
        "loss nor in the errors. dev_error is the mean of the label errors, so fixing every "
        "error of a label lowers it by the label's ceiling (error rate / labels).",
        frame,
        fmt,
    )
    return [table], notes


def _style_images(client: Any, run_id: str) -> tuple[list[tuple[str, str]], list[str]]:
    images, notes = [], []
    for path, caption in _STYLE_IMAGES:
        data = _download(client, run_id, path)
        if data is None:
            notes.append(f"the trial logged no {path}")
            continue
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        images.append((caption, uri))
    return images, notes


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
    from sweeplab.analysis import diagnose
    from sweeplab.tuning._record import FIXED_TASK_PREFIX

    m = ref.metrics
    notes: list[str] = list(final.notes) if final is not None else []
    diagnosis = None
    if task != "style_transfer":
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
    headline = [(k, m[k]) for k in HEADLINE_METRICS[task] if k in m and math.isfinite(m[k])]
    tables: list[ReportTable] = []
    images: list[tuple[str, str]] = []
    if task in _ARTIFACTS:
        data = _download(client, ref.run_id, _ARTIFACTS[task])
        if data is None:
            notes.append(
                f"the trial logged no {_ARTIFACTS[task]} (the artifact store did not answer when "
                "it finished?): the error-analysis table is missing"
            )
        elif task == "verification":
            tables = _verification_tables({"tau": m.get("tau", math.nan), **json.loads(data)})
        else:
            frame = pd.DataFrame(json.loads(data))
            tables = _FRAME_TABLES[task](frame)
    elif task == "multilabel":
        tables, more = _multilabel_tables(ref, pf)
        notes += more
    elif task == "style_transfer":
        images, more = _style_images(client, ref.run_id)
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
