"""The terminal table of `sweeplab runs`: one block per trial that fits the terminal's width.

Each trial is a line of right-aligned metric columns (as many as fit), then its
hyperparameters (and the metrics that did not fit) as ``key=value`` pairs wrapped on the
lines below it, never cut inside a pair, then its note. Errors get the decimals that tell
the trials apart (at least 4).
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

from rich.control import strip_control_codes

from sweeplab.cli._common import fmt_value

__all__ = ["render_runs_table", "HEADERS"]

HEADERS = {
    "params_count": "params",
    "latency_ms": "ms/ex",
    "dev_map": "dev mAP",
    "dev_mean_iou": "dev mIoU",
    "dev_verification_accuracy": "dev verif acc",
    "cost_ratio": "J end/start",
}
_GAP = 2
_INDENT = 6  # where the hyperparameter lines start
_MIN_DECIMALS, _MAX_DECIMALS = 4, 8


def render_runs_table(
    title: str,
    rows: list[dict[str, Any]],
    metric_cols: list[str],
    param_names: list[str],
    *,
    width: int,
) -> list[tuple[str, bool]]:
    """The table as ``(line, is_best_trial)`` pairs, each line at most ``width`` characters
    (``width`` at least 40). ``rows``: the dicts `sweeplab runs` builds (rank, trial, status,
    feasible, the metric and parameter columns, diagnosis, reason)."""
    width = max(width, 40)
    decimals = {m: _decimals([r[m] for r in rows]) for m in metric_cols if _is_error(m)}
    cells = {m: [_cell(r[m], decimals.get(m)) for r in rows] for m in metric_cols}
    fixed = [("#", [str(r["rank"]) for r in rows]), ("trial", [str(r["trial"]) for r in rows])]
    fixed.append(("status", [str(r["status"]) for r in rows]))
    columns, used = [], 0
    for head, values in fixed:
        w = max(len(head), *(len(v) for v in values)) if values else len(head)
        columns.append((head, values, w, head != "status"))
        used += w + (_GAP if used else 0)
    folded = []  # metrics that do not fit on the trial's line
    for m in metric_cols:
        head = HEADERS.get(m, m.replace("_error", " err").replace("_", "-"))
        w = max(len(head), *(len(v) for v in cells[m])) if rows else len(head)
        if not folded and used + _GAP + w <= width:
            columns.append((head, cells[m], w, True))
            used += _GAP + w
        else:
            folded.append(m)
    lines = [(t, False) for t in textwrap.wrap(_clean(title), width)]
    lines.append((_join([(h, h, w, right) for h, _, w, right in columns]), False))
    for i, row in enumerate(rows):
        best = row["rank"] == 1 and row["status"] == "finished" and row["feasible"]
        lines.append((_join([(h, v[i], w, right) for h, v, w, right in columns]), best))
        pairs = [f"{m}={cells[m][i]}" for m in folded if cells[m][i] != "–"]
        pairs += [f"{p}={_param(row[p])}" for p in param_names if row.get(p) is not None]
        lines += [(t, best) for t in _wrap_pairs(pairs, width)]
        note = _note(row)
        if note:
            lines += [(t, best) for t in _wrap_text(note, width)]
    return lines


def _join(cells: list[tuple[str, str, int, bool]]) -> str:
    return (
        (" " * _GAP).join(v.rjust(w) if right else v.ljust(w) for _, v, w, right in cells).rstrip()
    )


def _wrap_pairs(pairs: list[str], width: int) -> list[str]:
    """``key=value`` pairs on lines of at most ``width``, two spaces apart; a pair is broken
    only when it alone is longer than a line."""
    room = width - _INDENT
    lines: list[str] = []
    current = ""
    for pair in (_clean(p) for p in pairs):
        if current and len(current) + _GAP + len(pair) <= room:
            current += " " * _GAP + pair
            continue
        if current:
            lines.append(current)
        while len(pair) > room:
            lines.append(pair[:room])
            pair = pair[room:]
        current = pair
    if current:
        lines.append(current)
    return [" " * _INDENT + line for line in lines]


def _wrap_text(text: str, width: int) -> list[str]:
    pad = " " * _INDENT
    return textwrap.wrap(_clean(text), width, initial_indent=pad, subsequent_indent=pad)


def _note(row: dict[str, Any]) -> str:
    note = row.get("reason") or ""
    if not note and not row["feasible"] and row["status"] == "finished":
        note = "breaks a constraint"
    if row.get("diagnosis") and not note:
        note = f"problem: {row['diagnosis']}"
    # the objective's 95 % interval from the dev set's size (runs.add_noise_columns)
    low = next((v for k, v in row.items() if k.endswith("_ci_low") and v is not None), None)
    high = next((v for k, v in row.items() if k.endswith("_ci_high") and v is not None), None)
    if low is not None and high is not None:
        noise = f"95% CI [{low:.4f}, {high:.4f}]"
        if row.get("within_noise_of_best") and row.get("rank", 1) > 1:
            noise += ", within noise of best"
        note = f"{noise}; {note}" if note else noise
    return note if len(note) <= 300 else note[:299] + "…"


def _clean(text: str) -> str:
    """Terminal-safe: no control codes or escape sequences from data strings."""
    text = strip_control_codes(str(text))
    return "".join(c if c.isprintable() else "?" for c in text)


def _is_error(metric: str) -> bool:
    return metric.endswith("_error") or "_error_" in metric


def _decimals(values: list[Any]) -> int:
    """The fewest decimals (4 to 8) at which distinct values print differently."""
    finite = {v for v in values if isinstance(v, float) and math.isfinite(v)}
    for d in range(_MIN_DECIMALS, _MAX_DECIMALS + 1):
        if len({f"{v:.{d}f}" for v in finite}) == len(finite):
            return d
    return _MAX_DECIMALS


def _cell(value: Any, decimals: int | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if decimals is not None and isinstance(value, float):
        return f"{value:.{decimals}f}"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return fmt_value(value)


def _param(text: Any) -> str:
    """A logged parameter (MLflow keeps strings) as the sampled number or the choice."""
    try:
        value = float(text) if any(c in str(text) for c in ".e") else int(text)
    except (TypeError, ValueError):
        return str(text)
    return f"{value:.4g}" if isinstance(value, float) else str(value)
