"""Reports rendered from ``dashboards/`` templates: trial reports, reviews, sweep dashboards."""

from sweeplab.reports._dashboard import build_dashboard
from sweeplab.reports._dashboard_trials import load_sweep
from sweeplab.reports._evaluate import (
    Evaluation,
    TrialRef,
    evaluate_trial,
    final_evaluation,
    resolve_trial,
)
from sweeplab.reports._report import ReportFiles, render_report, write_report
from sweeplab.reports._report_data import ReportData, build_report, error_analysis
from sweeplab.reports._report_review import DEFAULT_CATEGORIES, ReviewFiles, write_review
from sweeplab.reports._task_final import final_task_evaluation
from sweeplab.reports._task_report import project_task
from sweeplab.reports._test_set import COUNT_TAG, EVALUATED_TAG, check_first_evaluation

__all__ = [
    "COUNT_TAG",
    "EVALUATED_TAG",
    "check_first_evaluation",
    "DEFAULT_CATEGORIES",
    "Evaluation",
    "ReportData",
    "ReportFiles",
    "ReviewFiles",
    "TrialRef",
    "build_dashboard",
    "build_report",
    "error_analysis",
    "evaluate_trial",
    "final_evaluation",
    "final_task_evaluation",
    "load_sweep",
    "project_task",
    "render_report",
    "resolve_trial",
    "write_report",
    "write_review",
]
