"""Reports rendered from ``dashboards/`` templates: trial reports, reviews, sweep dashboards."""

from sweeplab.reports._evaluate import (
    Evaluation,
    TrialRef,
    evaluate_trial,
    final_evaluation,
    resolve_trial,
)
from sweeplab.reports._report import ReportFiles, render_report, write_report
from sweeplab.reports._report_data import ReportData, build_report, error_analysis
from sweeplab.reports._report_review import ReviewFiles, write_review

__all__ = [
    "Evaluation",
    "ReportData",
    "ReportFiles",
    "ReviewFiles",
    "TrialRef",
    "build_report",
    "error_analysis",
    "evaluate_trial",
    "final_evaluation",
    "render_report",
    "resolve_trial",
    "write_report",
    "write_review",
]
