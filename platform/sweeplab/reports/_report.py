"""``sweeplab report``: a trial's HTML and Markdown report, written to the workspace and
logged as artifacts of the trial's run (so it opens in the MLflow UI's artifact view).

``write_report`` = resolve the trial → load / re-train its model (``_evaluate``) → compute
the tables (``_report_data``) → render ``dashboards/report.{html,md}.j2`` → write
``<workspace>/reports/<sweep>-trial<N>/`` → ``client.log_artifact`` each file under
``report/``. The HTML page is self-contained: plotly's JavaScript and the thumbnails are
inline, so it opens offline and inside MLflow's sandboxed artifact viewer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeplab.analysis import GAP_LABELS, LEVEL_LABELS, spreadsheet_csv
from sweeplab.errors import UserError
from sweeplab.reports._evaluate import Evaluation, evaluate_trial, final_evaluation, resolve_trial
from sweeplab.reports._labels_report import (
    label_inputs,
    multilabel_label_table,
    top_trials_errors,
)
from sweeplab.reports._markdown import Strong, md_table, md_text
from sweeplab.reports._report_data import ReportData, build_report
from sweeplab.reports._task_final import final_task_evaluation
from sweeplab.reports._task_report import TaskReportData, build_task_report, project_task
from sweeplab.reports._test_set import check_first_evaluation
from sweeplab.tasks import TASKS, pct
from sweeplab.tracking import client_for
from sweeplab.workspace import Workspace

__all__ = ["ReportFiles", "ladder_figure", "render_report", "render_task_report", "write_report"]


def templates_dir() -> Path:
    """``dashboards/`` at the repository root (beside ``platform/``)."""
    return Path(__file__).resolve().parents[3] / "dashboards"


@dataclass
class ReportFiles:
    """Where a report went: local files and, when logged, the run's artifact folder."""

    folder: Path
    html: Path
    markdown: Path
    summary: Path
    data: ReportData | TaskReportData
    logged: bool = False
    log_problem: str | None = None
    final_metrics: dict[str, float] = field(default_factory=dict)


def _num(x: Any, digits: int = 3) -> str:
    """Numbers for tables: ``0.8123 -> '0.812'``, ``12.0 -> '12'``; None / NaN -> '–'."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def ladder_gaps(d: Any) -> list[dict[str, Any]]:
    """The measured gaps in ladder order, with the rungs they join and whether largest."""
    rungs = list(d.ladder())
    out = []
    for gap, (lo, hi) in {
        "avoidable_bias": ("human", "train"),
        "variance": ("train", "train_dev" if d.train_dev is not None else "dev"),
        "data_mismatch": ("train_dev", "dev"),
        "dev_overfit": ("dev", "test"),
    }.items():
        value = getattr(d, gap)
        if value is None or lo not in rungs or hi not in rungs:
            continue
        out.append(
            {
                "name": gap,
                "label": GAP_LABELS[gap],
                "value": value,
                "from": lo,
                "to": hi,
                "x": (rungs.index(lo) + rungs.index(hi)) / 2,
                "largest": gap in d.largest,
            }
        )
    return out


def ladder_figure(d: Any):
    """A bar per rung of the error ladder, each gap annotated between its rungs (largest red)."""
    import plotly.graph_objects as go

    ladder = d.ladder()
    labels = [LEVEL_LABELS[k] for k in ladder]
    values = [100.0 * v for v in ladder.values()]
    colors = ["#9e9e9e" if k == "human" else "#3366cc" for k in ladder]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=values,
            marker_color=colors,
            text=[f"{v:.1f}%" for v in values],
            textposition="outside",
            hovertemplate="%{x}: %{y:.2f}% error<extra></extra>",
        )
    )
    top = max(values) if values else 1.0
    for g in ladder_gaps(d):
        fig.add_annotation(
            x=g["x"],
            y=top * 1.18,
            text=f"{g['label']}<br>{g['value'] * 100:+.1f} pts",
            showarrow=False,
            font={
                "color": "#c62828" if g["largest"] else "#555",
                "size": 13 if g["largest"] else 11,
            },
        )
    fig.update_layout(
        title="Error ladder (human-level error as the proxy for Bayes error)",
        yaxis_title="error (%)",
        yaxis_range=[0, top * 1.35 + 1],
        height=420,
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
        plot_bgcolor="white",
        showlegend=False,
    )
    fig.update_yaxes(gridcolor="#eee")
    return fig


def _frame_rows(df: Any, index_name: str | None = None) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of a DataFrame with its index (a MultiIndex gives several columns)."""
    names = [str(n) if n is not None else (index_name or "") for n in df.index.names]
    header = names + [str(c) for c in df.columns]
    rows = []
    for idx, values in zip(df.index, df.to_numpy().tolist(), strict=True):
        key = list(idx) if isinstance(idx, tuple) else [idx]
        rows.append(key + values)
    return header, rows


def _context(data: ReportData, *, html: bool) -> dict[str, Any]:
    d = data.diagnosis
    comp_header, comp_rows = _frame_rows(data.composition)
    conf = data.confusion
    max_off = max(
        [int(conf.iat[i, j]) for i in range(len(conf)) for j in range(len(conf)) if i != j] or [1]
    )
    summary = data.table.summary
    ctx: dict[str, Any] = {
        "r": data,
        "d": d,
        "ladder": [{"key": k, "label": LEVEL_LABELS[k], "value": v} for k, v in d.ladder().items()],
        "gaps": ladder_gaps(d),
        "problem_label": GAP_LABELS.get(d.problem or ""),
        "comp_header": comp_header,
        "comp_rows": comp_rows,
        "categories": [
            {"name": str(name), **row}
            for name, row in zip(summary.index, summary.to_dict(orient="records"), strict=True)
            if row["errors"] > 0 or str(name) in data.review_categories
        ],
        "hidden_categories": int(
            sum(
                1
                for name, n in summary["errors"].items()
                if n == 0 and str(name) not in data.review_categories
            )
        ),
        "review_set": set(data.review_categories),
        "confusion": conf,
        "conf_classes": [str(c) for c in conf.columns],
        "conf_rows": [(str(t), [int(v) for v in conf.loc[t].tolist()]) for t in conf.index],
        "max_off": max_off,
        "per_class": [
            {"class": str(c), **row}
            for c, row in zip(
                data.per_class.index, data.per_class.to_dict(orient="records"), strict=True
            )
        ],
        "suspect_errors": sum(1 for s in data.suspects if s["true"] != s["pred"]),
    }
    if html:
        ctx["ladder_div"] = ladder_figure(d).to_html(
            full_html=False,
            include_plotlyjs=True,  # inline: the page must open offline
            config={"displaylogo": False, "responsive": True},
            div_id="error-ladder",
        )
    else:
        ctx["comp_md"] = md_table(comp_rows, comp_header)
        ctx["md"] = _markdown_tables(ctx, data)
    return ctx


def _markdown_tables(ctx: dict[str, Any], data: ReportData) -> dict[str, str]:
    """report.md's tables of data (class names, categories, ids): through :func:`md_table`."""
    return {
        "categories": md_table(
            [
                [
                    c["name"],
                    "review" if c["name"] in ctx["review_set"] else "auto",
                    c["errors"],
                    c["examined"],
                    _num(c["pct_of_errors"], 3),
                    _num(c["pct_of_dev"], 3),
                    pct(c["category_error"]),
                    pct(c["ceiling"]),
                ]
                for c in ctx["categories"]
            ],
            [
                "category",
                "source",
                "errors",
                "examined",
                "% of errors",
                "% of dev",
                "error in category",
                "ceiling",
            ],
        ),
        "confusion": md_table(
            [[Strong(t), *counts] for t, counts in ctx["conf_rows"]],
            ["true \\ predicted", *ctx["conf_classes"]],
        ),
        "per_class": md_table(
            [
                [
                    c["class"],
                    c["support"],
                    c["errors"],
                    pct(c["error_rate"]),
                    _num(c["pct_of_errors"], 3),
                    pct(c["ceiling"]),
                ]
                for c in ctx["per_class"]
            ],
            ["class", "support", "errors", "error rate", "% of errors", "ceiling"],
        ),
        "examples": md_table(
            [[e["id"], e["true"], e["pred"], pct(e["confidence"], 0)] for e in data.examples[:20]],
            ["id", "true", "predicted", "confidence"],
        ),
        "suspects": md_table(
            [
                [e["id"], e["true"], e["suggested"], _num(e["quality"], 3)]
                for e in data.suspects[:20]
            ],
            ["id", "given label", "suggested label", "label quality"],
        ),
        **_label_tables(data),
    }


def _label_tables(data: ReportData) -> dict[str, str]:
    """Markdown of the label check's per-domain table and of the top-K error groups."""
    out = {}
    check = data.labels
    if check is not None and check.per_group is not None:
        out["label_domains"] = md_table(
            [
                [g["group"], g["examples"], g["errors"], g["suspects"], g["reported_suspects"]]
                for g in check.per_group.to_dict(orient="records")
            ],
            ["domain", "train + dev examples", "out-of-sample errors", "suspects", "dev suspects"],
        )
    se = data.sweep_errors
    if se is not None:
        for key, title, table in (
            ("sweep_all", "all wrong", se.all_wrong),
            ("sweep_some", "only some wrong", se.some_wrong),
        ):
            rows = table.summary[table.summary["errors"] > 0].head(8)
            out[key] = md_table(
                [[cat, int(r["errors"]), pct(r["ceiling"])] for cat, r in rows.iterrows()],
                [f"{title}: category", "errors", "ceiling"],
            )
    return out


def _env():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=lambda name: bool(name) and name.endswith(".html.j2"),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pct"] = pct
    env.filters["num"] = _num
    env.filters["md_table"] = lambda rows, header: md_table(rows, header)
    env.filters["md"] = md_text
    return env


def render_report(data: ReportData) -> tuple[str, str]:
    """(HTML, Markdown) of a report."""
    env = _env()
    html = env.get_template("report.html.j2").render(**_context(data, html=True))
    md = env.get_template("report.md.j2").render(**_context(data, html=False))
    return html, md


def render_task_report(data: TaskReportData) -> tuple[str, str]:
    """(HTML, Markdown) of a vision-task or multi-label report."""
    env = _env()
    d = data.diagnosis
    ctx: dict[str, Any] = {"r": data, "d": d, "error_measure": TASKS.get(data.task).error_measure}
    if d is not None:
        ctx["ladder"] = [
            {"key": k, "label": LEVEL_LABELS[k], "value": v} for k, v in d.ladder().items()
        ]
        ctx["gaps"] = ladder_gaps(d)
        ctx["ladder_div"] = ladder_figure(d).to_html(
            full_html=False,
            include_plotlyjs=True,  # inline: the page must open offline
            config={"displaylogo": False, "responsive": True},
            div_id="error-ladder",
        )
    html = env.get_template("task_report.html.j2").render(**ctx)
    ctx.pop("ladder_div", None)
    md = env.get_template("task_report.md.j2").render(**ctx)
    return html, md


def _log_files(run_id: str, uri: str, paths: list[Path]) -> str | None:
    client = client_for(uri)
    try:
        for p in paths:
            client.log_artifact(run_id, str(p), artifact_path="report")
    except Exception as exc:  # noqa: BLE001 - the local report is written either way
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    return None


def _write_task_report(
    ref: Any,
    pf: Any,
    task: str,
    *,
    workspace: Path | None,
    tracking_uri: str | None,
    review: Path | None,
    final: bool,
    again: bool,
    out: Path | None,
    log: bool,
    say: Any,
    refit_labels: bool = False,
) -> ReportFiles:
    if review is not None:  # it would be silently ignored
        raise UserError(
            f"--review adds reviewed categories to a classification error table, but sweep "
            f"{ref.sweep!r} is a {task} sweep: its report has no per-example table to join"
        )
    uri = tracking_uri or ref.info["tracking_uri"]
    evaluation = (
        final_task_evaluation(ref, pf, task, tracking_uri=tracking_uri, say=say, again=again)
        if final
        else None
    )
    data = build_task_report(ref, pf, task, client_for(uri), final=evaluation)
    if task == "multilabel":  # probable label errors, one binary check per label
        table, notes = multilabel_label_table(
            ref, pf, client_for(uri), tracking_uri=tracking_uri, refit=refit_labels
        )
        data.tables.append(table)
        data.notes += notes
    html, md = render_task_report(data)
    folder = out or Workspace.at(workspace).root / "reports" / ref.name
    paths = _write_pages(folder, html, md, data.summary())
    for t in data.tables:
        paths[t.id] = folder / f"{t.id}.csv"
        paths[t.id].write_text(spreadsheet_csv(t.frame), encoding="utf-8")
    problem = _log_files(ref.run_id, uri, list(paths.values())) if log else None
    final = dict(evaluation.metrics) if evaluation is not None else {}
    return _report_files(folder, paths, data, log=log, problem=problem, final_metrics=final)


def _report_files(
    folder: Path,
    paths: dict[str, Path],
    data: Any,
    *,
    log: bool,
    problem: str | None,
    final_metrics: dict[str, float],
) -> ReportFiles:
    """What a report command wrote (``_write_pages``' paths) and whether it reached MLflow."""
    return ReportFiles(
        folder=folder,
        html=paths["html"],
        markdown=paths["markdown"],
        summary=paths["summary"],
        data=data,
        logged=log and problem is None,
        log_problem=problem,
        final_metrics=final_metrics,
    )


def _write_pages(folder: Path, html: str, md: str, summary: dict) -> dict[str, Path]:
    """``report.html``, ``report.md`` and ``report.json`` in ``folder``; their paths by kind."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "html": folder / "report.html",
        "markdown": folder / "report.md",
        "summary": folder / "report.json",
    }
    paths["html"].write_text(html, encoding="utf-8")
    paths["markdown"].write_text(md, encoding="utf-8")
    paths["summary"].write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return paths


def _log_artifacts(ev: Evaluation, paths: list[Path], tracking_uri: str | None) -> str | None:
    return _log_files(ev.ref.run_id, tracking_uri or ev.ref.info["tracking_uri"], paths)


def write_report(
    target: str | None = None,
    *,
    trial: int | None = None,
    workspace: Path | None = None,
    tracking_uri: str | None = None,
    review: Path | None = None,
    final: bool = False,
    out: Path | None = None,
    log: bool = True,
    say: Any = None,
    again: bool = False,
    refit_labels: bool = False,
    top: int = 0,
) -> ReportFiles:
    """Write the report of a trial (default: the last sweep's best feasible trial).

    Vision-task and multi-label trials get the task's report (``_task_report``); ``say``
    announces a re-training that a final evaluation needs. ``final`` evaluates the test set,
    refused for a trial evaluated before unless ``again``. Probable label errors come from
    out-of-sample probabilities (``_crossfit``: cached in the run; ``refit_labels`` computes
    them again); ``top`` >= 2 adds the error analysis across the sweep's ``top`` best trials.
    """
    if again and not final:  # it would be silently ignored
        raise UserError("--again repeats a final evaluation: use it with --final")
    ref = resolve_trial(target, trial=trial, workspace=workspace, tracking_uri=tracking_uri)
    if final:  # before any model is loaded or re-trained
        check_first_evaluation(
            ref, client_for(tracking_uri or ref.info["tracking_uri"]), again=again
        )
    pf, spec = project_task(ref)
    if spec is not None and spec.logged_report:
        if top >= 2:  # it would be silently ignored
            raise UserError(
                f"--top analyses binary and multiclass sweeps; sweep {ref.sweep!r} is a "
                f"{spec.name} task"
            )
        if refit_labels and spec.name != "multilabel":
            raise UserError(
                f"--refit-labels checks the labels of classification trials; sweep "
                f"{ref.sweep!r} is a {spec.name} task"
            )
        return _write_task_report(
            ref,
            pf,
            spec.name,
            workspace=workspace,
            tracking_uri=tracking_uri,
            review=review,
            final=final,
            again=again,
            out=out,
            log=log,
            say=say,
            refit_labels=refit_labels,
        )
    ev = evaluate_trial(ref, tracking_uri=tracking_uri)
    final_metrics = final_evaluation(ev, tracking_uri=tracking_uri, again=again) if final else {}
    oos = label_inputs(ev, tracking_uri=tracking_uri, refit=refit_labels)
    across = top_trials_errors(ev, top, workspace=workspace, tracking_uri=tracking_uri)
    data = build_report(ev, review=review, final=final, oos=oos, sweep_errors=across)
    html, md = render_report(data)
    folder = out or Workspace.at(workspace).root / "reports" / ref.name
    paths = _write_pages(folder, html, md, data.summary())
    paths["table"] = folder / "error_table.csv"
    paths["table"].write_text(spreadsheet_csv(data.table.rows, index=True), encoding="utf-8")
    problem = _log_artifacts(ev, list(paths.values()), tracking_uri) if log else None
    return _report_files(folder, paths, data, log=log, problem=problem, final_metrics=final_metrics)
