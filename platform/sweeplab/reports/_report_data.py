"""What a trial report shows, computed from an :class:`Evaluation` by the pure analysis functions.

Nothing here trains, logs or writes files: :func:`error_analysis` and :func:`build_report`
turn predictions into tables and dataclasses; ``_report.py`` renders and writes them.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sweeplab.analysis import (
    LabelCheck,
    bucketize,
    check_labels,
    class_tags,
    confusion,
    diagnose,
    error_table,
    gaps_within_noise,
    merge_review,
    noise_note,
    per_class_errors,
)
from sweeplab.data import quality_tags
from sweeplab.files import REVIEW, read_bounded
from sweeplab.reports._evaluate import Evaluation, SplitPredictions

__all__ = [
    "ReportData",
    "automatic_categories",
    "build_report",
    "error_analysis",
    "example_rows",
    "thumbnail",
]

#: Automatic image-quality tags get a prefix, so that they never collide with the categories
#: people add in a review (a reviewer's "blurry" is a judgement; "image:blurry" a measurement).
QUALITY_PREFIX = "image:"
MAX_EXAMPLES = 60  # misclassified examples shown in a report
MAX_BUCKETED_FEATURES = 4  # tabular features bucketized into categories


@dataclass
class ReportData:
    """Everything the report templates show."""

    name: str
    sweep: str
    trial: int
    run_id: str
    params: dict[str, Any]
    objective: str
    goal: str
    objective_value: float | None
    constraints: str
    feasible: bool
    model_source: str
    final: bool
    dataset: str
    classes: list[str]
    sizes: dict[str, int]
    composition: pd.DataFrame
    diagnosis: Any  # analysis.Diagnosis
    human_note: str | None
    table: Any  # analysis.ErrorTable
    confusion: pd.DataFrame
    per_class: pd.DataFrame
    examples: list[dict[str, Any]]
    suspects: list[dict[str, Any]]
    labels: LabelCheck | None = None
    label_method: str = ""
    sweep_errors: Any = None  # analysis.SweepErrors (--top K), or None
    review_source: str | None = None
    review_categories: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    is_image: bool = False

    @property
    def noise_note(self) -> str | None:
        """Which gaps of the diagnosis are within noise, from the sets' sizes."""
        return noise_note(self.diagnosis, self.sizes)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: what was analysed and what the report concluded."""
        d = self.diagnosis
        return {
            "name": self.name,
            "sweep": self.sweep,
            "trial": self.trial,
            "run_id": self.run_id,
            "params": self.params,
            "objective": {"name": self.objective, "goal": self.goal, "value": self.objective_value},
            "constraints": self.constraints,
            "feasible": self.feasible,
            "model_source": self.model_source,
            "final": self.final,
            "sizes": self.sizes,
            "diagnosis": {
                **d.as_dict(),
                "within_noise": gaps_within_noise(d, self.sizes),
                "noise_note": self.noise_note,
            },
            "error_table": {
                "n_dev": self.table.n_dev,
                "n_errors": self.table.n_errors,
                "categories": _records(self.table.summary.reset_index()),
            },
            "review": {"source": self.review_source, "categories": self.review_categories},
            "suspect_labels": [{k: v for k, v in s.items() if k != "thumb"} for s in self.suspects],
            "label_errors": _label_summary(self.labels, self.label_method),
            "sweep_errors": self.sweep_errors.as_dict() if self.sweep_errors is not None else None,
            "notes": self.notes,
        }


def _label_summary(check: LabelCheck | None, method: str) -> dict[str, Any] | None:
    if check is None:
        return None
    return {
        "method": method,
        "estimate": check.estimate,
        "interval": [check.low, check.high],
        "confidence": check.confidence,
        "n": check.n,
        "no_evidence": check.no_evidence,
        "verdict": check.verdict(),
        "per_domain": _records(check.per_group) if check.per_group is not None else None,
        "mismatch": check.mismatch,
    }


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in df.to_dict(orient="records"):
        out.append({str(k): _plain(v) for k, v in row.items()})
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating | float):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def is_image_data(ds: Any) -> bool:
    return ds.image_shape is not None or ds.X.ndim == 4


def _informative_features(features: pd.DataFrame, wrong: np.ndarray, k: int) -> list[str]:
    """The ``k`` features whose mean over the errors is furthest from the mean over all (in
    standard deviations): the ones most worth bucketizing."""
    numeric = [c for c in features.columns if features[c].nunique() > 1]
    if not wrong.any() or len(numeric) <= k:
        return numeric[:k]
    f = features[numeric].astype(float)
    score = (f[wrong].mean() - f.mean()).abs() / (f.std() + 1e-12)
    return list(score.sort_values(ascending=False, kind="stable").index[:k])


def automatic_categories(ev: Evaluation, pred: SplitPredictions) -> pd.DataFrame:
    """Per-example tags of a split: true and predicted class, domain, and image-quality tags
    (images) or quantile buckets of the most telling features (tables)."""
    ds = ev.dataset
    classes = np.asarray(ds.classes, dtype=object)
    tags = class_tags(classes[pred.y_true], classes[pred.y_pred])
    if ds.domain is not None:
        tags["domain"] = np.array([ds.display_domain(str(d)) for d in ds.domain[pred.indices]])
    if is_image_data(ds):
        q = quality_tags(
            ds.as_images()[pred.indices], value_range=(float(ds.X.min()), float(ds.X.max()))
        )
        for col in ("blurry", "dark", "low_contrast"):
            tags[QUALITY_PREFIX + col] = q[col].to_numpy(dtype=bool)
    else:
        features = pd.DataFrame(ds.X[pred.indices], columns=list(ds.feature_names))
        cols = _informative_features(features, pred.y_true != pred.y_pred, MAX_BUCKETED_FEATURES)
        if cols:
            buckets = bucketize(features, cols, q=4)
            for c in cols:
                tags[c] = buckets[c].to_numpy()
    return tags


def error_analysis(ev: Evaluation, review: str | Path | None = None):
    """The dev set's :class:`~sweeplab.analysis.ErrorTable` with the automatic categories,
    plus the categories of a filled-in review CSV when one is given."""
    pred = ev.predictions["dev"]
    classes = np.asarray(ev.dataset.classes, dtype=object)
    table = error_table(
        ev.dataset.ids[pred.indices],
        classes[pred.y_true],
        classes[pred.y_pred],
        probs=pred.probs,
        classes=list(classes),
        categories=automatic_categories(ev, pred),
    )
    if review is not None:
        table = merge_review(table, read_bounded(review, REVIEW), source=str(review))
    return table


def thumbnail(image: np.ndarray, lo: float, hi: float, *, size: int = 64) -> str:
    """A ``data:image/png;base64,...`` URI of one image ``(C, H, W)``: dark ink on white,
    scaled up without smoothing so pixels stay visible."""
    from PIL import Image

    x = np.asarray(image, dtype=np.float64)
    gray = x.mean(axis=0) if x.shape[0] not in (3,) else None  # (H, W)
    scale = (hi - lo) or 1.0
    if gray is not None:
        arr = 255.0 * (1.0 - np.clip((gray - lo) / scale, 0.0, 1.0))
        img = Image.fromarray(arr.astype(np.uint8), mode="L")
    else:  # RGB as it is
        arr = 255.0 * np.clip((x.transpose(1, 2, 0) - lo) / scale, 0.0, 1.0)
        img = Image.fromarray(arr.astype(np.uint8), mode="RGB")
    factor = max(1, size // max(img.size))
    img = img.resize((img.size[0] * factor, img.size[1] * factor), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def example_rows(
    ev: Evaluation, pred: SplitPredictions, positions: np.ndarray, *, thumbs: bool = True
) -> list[dict[str, Any]]:
    """One dict per example at ``positions`` of ``pred``: id, true, predicted, confidence,
    p_true, domain and (for images) a base64 PNG thumbnail."""
    ds = ev.dataset
    images = ds.as_images() if thumbs and is_image_data(ds) else None
    lo, hi = float(ds.X.min()), float(ds.X.max())
    rows = []
    for pos in positions.tolist():
        i = int(pred.indices[pos])
        row = {
            "id": str(ds.ids[i]),
            "true": ds.classes[pred.y_true[pos]],
            "pred": ds.classes[pred.y_pred[pos]],
            "confidence": float(pred.probs[pos, pred.y_pred[pos]]),
            "p_true": float(pred.probs[pos, pred.y_true[pos]]),
            "domain": None if ds.domain is None else ds.display_domain(str(ds.domain[i])),
        }
        if images is not None:
            row["thumb"] = thumbnail(images[i], lo, hi)
        rows.append(row)
    return rows


def _misclassified(ev: Evaluation, pred: SplitPredictions, limit: int) -> list[dict[str, Any]]:
    wrong = np.flatnonzero(pred.y_true != pred.y_pred)
    conf = pred.probs[wrong, pred.y_pred[wrong]]
    order = wrong[np.argsort(-conf, kind="stable")][:limit]  # most confident mistakes first
    return example_rows(ev, pred, order)


def label_check(ev: Evaluation, oos: Any) -> LabelCheck:
    """Confident learning on the out-of-sample probabilities of train + dev (``oos``, see
    ``_crossfit``); dev is reported, the chosen model's predictions veto, domains group."""
    ds = ev.dataset
    dev = ev.predictions["dev"]
    parts = [ev.predictions[s] for s in ("train", "dev") if s in ev.predictions]
    indices = np.concatenate([p.indices for p in parts])
    if not np.array_equal(indices, oos.indices):
        raise ValueError("out-of-sample probabilities of other examples than train + dev")
    return check_labels(
        np.concatenate([p.y_true for p in parts]),
        oos.probs,
        np.concatenate([p.y_pred for p in parts]),
        report=np.arange(len(indices)) >= len(indices) - len(dev.indices),
        groups=None if ds.domain is None else ds.domain[indices],
        classes=list(range(len(ds.classes))),
    )


def _suspects(
    ev: Evaluation, check: LabelCheck | None, limit: int = MAX_EXAMPLES
) -> list[dict[str, Any]]:
    """The dev suspects, lowest label quality first, as example rows."""
    if check is None or check.suspects.empty:
        return []
    dev = ev.predictions["dev"]
    offset = len(ev.predictions["train"].indices) if "train" in ev.predictions else 0
    found = check.suspects.iloc[:limit]
    rows = example_rows(ev, dev, found.index.to_numpy() - offset, thumbs=limit <= MAX_EXAMPLES)
    for row, (_, s) in zip(rows, found.iterrows(), strict=True):
        row["suggested"] = ev.dataset.classes[int(s["suggested"])]
        row["quality"] = float(s["quality"])
        row["p_suggested"] = float(s["p_suggested"])
    return rows


def suggested_labels(ev: Evaluation, check: LabelCheck | None) -> dict[str, str]:
    """``{dev example id: suggested label}`` for every dev suspect (for the review sheet)."""
    rows = _suspects(ev, check, limit=len(check.suspects)) if check is not None else []
    return {r["id"]: str(r["suggested"]) for r in rows}


def build_report(
    ev: Evaluation,
    *,
    review: str | Path | None = None,
    final: bool = False,
    oos: Any = None,
    sweep_errors: Any = None,
) -> ReportData:
    """Compute every table of a trial report (the test rung only when ``final`` or when the
    run already holds a logged final ``test_error``)."""
    errors = ev.errors()
    test = errors.get("test") if final else ev.ref.metrics.get("test_error")
    human = ev.human_level_error
    diagnosis = diagnose(
        human=human,
        train=errors["train"],
        train_dev=errors.get("train_dev"),
        dev=errors["dev"],
        test=test,
    )
    table = error_analysis(ev, review)
    pred = ev.predictions["dev"]
    classes = list(ev.dataset.classes)
    names = np.asarray(classes, dtype=object)
    auto = set(automatic_categories_names(table.categories))
    review_cats = [c for c in table.categories if c not in auto]
    hl = ev.project_file.project.human_level_error
    check = label_check(ev, oos) if oos is not None else None
    return ReportData(
        name=ev.ref.name,
        sweep=ev.ref.sweep,
        trial=ev.ref.number,
        run_id=ev.ref.run_id,
        params=dict(ev.ref.params),
        objective=ev.ref.objective,
        goal=ev.ref.goal,
        objective_value=ev.ref.metrics.get(ev.ref.objective),
        constraints="; ".join(ev.project_file.project.metrics.satisfy) or "none",
        feasible=ev.ref.feasible,
        model_source=ev.model_source,
        final=final,
        dataset=ev.dataset.name,
        classes=classes,
        sizes=ev.manifest.sizes(),
        composition=ev.manifest.composition(ev.dataset),
        diagnosis=diagnosis,
        human_note=hl.note if hl else None,
        table=table,
        confusion=confusion(names[pred.y_true], names[pred.y_pred], classes),
        per_class=per_class_errors(names[pred.y_true], names[pred.y_pred], classes),
        examples=_misclassified(ev, pred, MAX_EXAMPLES),
        suspects=_suspects(ev, check),
        labels=check,
        label_method=oos.method if oos is not None else "",
        sweep_errors=sweep_errors,
        review_source=str(review) if review is not None else None,
        review_categories=review_cats,
        notes=list(ev.notes),
        is_image=is_image_data(ev.dataset),
    )


def automatic_categories_names(categories: tuple[str, ...]) -> list[str]:
    """The automatic ones among an error table's categories (``column=value`` tags and the
    image-quality tags); the rest came from a review."""
    return [c for c in categories if "=" in c or c.startswith(QUALITY_PREFIX)]
