"""``sweeplab report`` and ``sweeplab evaluate``: a trial's report, and its final evaluation."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from sweeplab.cli._app import app
from sweeplab.cli._common import RefitLabelsOpt, TrackingOpt, WorkspaceOpt
from sweeplab.cli._common import console as make_console

__all__ = ["evaluate", "report"]

TargetArg = typer.Argument(
    None,
    help="A sweep name (its best feasible trial) or a trial's MLflow run id (default: the last sweep).",
    show_default=False,
)
AgainOpt = typer.Option(
    False,
    "--again",
    help="Evaluate the test set of a trial that was evaluated before (refused without it: "
    "the test error is a final check). Every evaluation is counted on the sweep's parent run.",
)
TrialOpt = typer.Option(
    None,
    "--trial",
    "-t",
    min=0,
    help="Pick the sweep's trial with this number instead of the best.",
)


@app.command(
    epilog=(
        "Examples: sweeplab report   |   sweeplab report digits-mismatch-20261126-101500 --trial 3   |   "
        "sweeplab report RUN_ID --review reviews/filled.csv   |   sweeplab report RUN_ID --final"
    )
)
def report(
    target: str | None = TargetArg,
    trial: int | None = TrialOpt,
    review: Path | None = typer.Option(
        None,
        "--review",
        help="A filled-in review CSV (from `sweeplab review`): its categories join the error table.",
    ),
    final: bool = typer.Option(
        False,
        "--final",
        help="Final evaluation: also compute the test error once and log test_error, dev_overfit to the run.",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Folder for the report (default: WORKSPACE/reports/<sweep>-trial<N>).",
    ),
    log: bool = typer.Option(
        True, "--log/--no-log", help="Log the report as artifacts of the run."
    ),
    again: bool = AgainOpt,
    refit_labels: bool = RefitLabelsOpt,
    top: int = typer.Option(
        0,
        "--top",
        "-k",
        min=0,
        help="Error analysis across the sweep: split the dev errors by whether all of the K "
        "best trials get them wrong (hard or mislabeled) or only some (a model choice). "
        "Trials without saved weights are re-trained once. 0 or 1: off.",
    ),
    workspace: Path | None = WorkspaceOpt,
    tracking_uri: str | None = TrackingOpt,
) -> None:
    """Write a trial's HTML + Markdown report: splits, error ladder, diagnosis with remedies,
    error-analysis table, confusion matrix, misclassified examples, probable label errors.
    The best trial is the best optimizing value among trials that satisfy every constraint."""
    if review is not None:  # before PyTorch and MLflow are imported: a bad file costs nothing
        from sweeplab.files import REVIEW, read_bounded

        read_bounded(review, REVIEW)
    from sweeplab.reports import write_report
    from sweeplab.tasks import TASKS

    c = make_console()
    files = write_report(
        target,
        trial=trial,
        workspace=workspace,
        tracking_uri=tracking_uri,
        review=review,
        final=final,
        out=out,
        log=log,
        say=lambda text: c.print(text, style="yellow", soft_wrap=True),
        again=again,
        refit_labels=refit_labels,
        top=top,
    )
    data = files.data
    d = data.diagnosis
    task = getattr(data, "task", None)
    c.print(
        f"report of trial {data.trial} of sweep {data.sweep} (run {data.run_id})"
        + (f" [{task}]" if task else ""),
        highlight=False,
    )
    if d is not None:
        ladder = "  ".join(f"{k}={v:.4f}" for k, v in d.ladder().items())
        measure = TASKS.get(task).error_measure if task else ""
        c.print(f"errors: {ladder}" + (f"  ({measure})" if measure else ""), highlight=False)
        c.print(d.verdict, style="bold", soft_wrap=True)
    if task:
        _print_task_report(c, data)
    labels = getattr(data, "labels", None)
    if labels is not None:
        c.print(f"label check: {labels.verdict()}", highlight=False, soft_wrap=True, markup=False)
        if labels.mismatch:
            c.print(labels.mismatch, highlight=False, soft_wrap=True, markup=False)
    for m, v in files.final_metrics.items():
        c.print(f"logged {m} = {v:.4f}", highlight=False)
    for n in data.notes:
        c.print(Text.assemble(("note:", "yellow"), f" {n}"), soft_wrap=True)
    c.print(f"HTML:     {files.html}", highlight=False, soft_wrap=True)
    c.print(f"Markdown: {files.markdown}", highlight=False, soft_wrap=True)
    if files.logged:
        c.print(
            "logged as artifacts of the run (report/) — open them in `sweeplab ui`", highlight=False
        )
    elif files.log_problem:
        c.print(
            f"could not log the report to the run: {files.log_problem}",
            style="yellow",
            soft_wrap=True,
        )


def _print_task_report(c, data) -> None:
    """The task's metrics, its first error-analysis table and its images, on the console."""
    from rich.table import Table

    if data.headline:
        c.print("  ".join(f"{k}={v:.4g}" for k, v in data.headline), highlight=False)
    for t in data.tables[:1]:
        table = Table(title=t.title, title_justify="left")
        for i, h in enumerate(t.header):
            left = i < t.left
            table.add_column(h.replace("_", " "), justify="left" if left else "right", no_wrap=left)
        for row in t.cells:
            table.add_row(*row)
        c.print(table)
    if len(data.tables) > 1:
        c.print(
            "more tables in the report: " + ", ".join(t.title for t in data.tables[1:]),
            highlight=False,
        )
    if data.images:
        c.print(
            "images in the HTML report: " + ", ".join(caption for caption, _ in data.images),
            highlight=False,
        )


@app.command(
    epilog="Example: sweeplab evaluate   |   sweeplab evaluate RUN_ID   |   sweeplab evaluate RUN_ID --again"
)
def evaluate(
    target: str | None = TargetArg,
    trial: int | None = TrialOpt,
    again: bool = AgainOpt,
    workspace: Path | None = WorkspaceOpt,
    tracking_uri: str | None = TrackingOpt,
) -> None:
    """Final evaluation of a chosen trial: its test error, computed once (never during the
    search; a second time only with --again) and logged to the run with dev_overfit = test −
    dev. The sweep's parent run counts the evaluations (tag sweeplab.test_evaluations)."""
    from sweeplab.analysis import diagnose
    from sweeplab.reports import (
        check_first_evaluation,
        evaluate_trial,
        final_evaluation,
        resolve_trial,
    )
    from sweeplab.reports._task_report import project_task
    from sweeplab.tracking import client_for

    ref = resolve_trial(target, trial=trial, workspace=workspace, tracking_uri=tracking_uri)
    # before any model is loaded or re-trained
    check_first_evaluation(ref, client_for(tracking_uri or ref.info["tracking_uri"]), again=again)
    pf, spec = project_task(ref)
    if spec is not None and spec.logged_report:
        _evaluate_task(ref, pf, spec.name, tracking_uri, again)
        return
    ev = evaluate_trial(ref, tracking_uri=tracking_uri)
    metrics = final_evaluation(ev, tracking_uri=tracking_uri, again=again)
    errors = ev.errors()
    d = diagnose(
        human=ev.human_level_error,
        train=errors["train"],
        train_dev=errors.get("train_dev"),
        dev=errors["dev"],
        test=errors["test"],
    )
    c = make_console()
    c.print(
        f"final evaluation of trial {ref.number} of sweep {ref.sweep} (run {ref.run_id})",
        highlight=False,
    )
    c.print("  ".join(f"{k}={v:.4f}" for k, v in d.ladder().items()), highlight=False)
    c.print(
        f"logged test_error = {metrics['test_error']:.4f}, dev_overfit = {metrics['dev_overfit']:+.4f}",
        highlight=False,
    )
    c.print(d.verdict, style="bold", soft_wrap=True)
    for n in ev.notes:
        c.print(Text.assemble(("note:", "yellow"), f" {n}"), soft_wrap=True)


def _evaluate_task(ref, pf, task: str, tracking_uri: str | None, again: bool) -> None:
    """The final evaluation of a vision-task or multi-label trial (see reports._task_final)."""
    from sweeplab.analysis import diagnose
    from sweeplab.reports._task_final import final_task_evaluation
    from sweeplab.tasks import TASKS

    c = make_console()
    ev = final_task_evaluation(
        ref,
        pf,
        task,
        tracking_uri=tracking_uri,
        say=lambda text: c.print(text, style="yellow", soft_wrap=True),
        again=again,
    )
    m = ref.metrics
    c.print(
        f"final evaluation of trial {ref.number} of sweep {ref.sweep} (run {ref.run_id}) [{task}]",
        highlight=False,
    )
    source = (
        "re-trained from its logged parameters"
        if ev.model_source == "retrained"
        else ("loaded from the run's saved weights")
    )
    if ev.dev_check is not None:
        name, logged, now = ev.dev_check
        source += f"; its {name} {now:.4f} (logged: {logged:.4f})"
    c.print(f"model: {source}", highlight=False)
    if "train_error" in m and "dev_error" in m:
        hl = pf.project.human_level_error
        d = diagnose(
            human=hl.error if hl else None,
            train=m["train_error"],
            train_dev=m.get("train_dev_error"),
            dev=m["dev_error"],
            test=ev.metrics["test_error"],
        )
        measure = TASKS.get(task).error_measure
        c.print(
            "  ".join(f"{k}={v:.4f}" for k, v in d.ladder().items())
            + (f"  ({measure})" if measure else ""),
            highlight=False,
        )
    c.print(
        "logged " + ", ".join(f"{k} = {v:.4f}" for k, v in ev.metrics.items()),
        highlight=False,
        soft_wrap=True,
    )
    if "train_error" in m and "dev_error" in m:
        c.print(d.verdict, style="bold", soft_wrap=True)
    for n in ev.notes:
        c.print(Text.assemble(("note:", "yellow"), f" {n}"), soft_wrap=True)
