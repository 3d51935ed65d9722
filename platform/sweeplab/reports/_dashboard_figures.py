"""The dashboard's plotly figures, each drawn on the scale its parameter was sampled on.

- log_uniform / int_log_uniform: a log x axis;
- one_minus_log_uniform β: the x axis is 1 − β on a log scale, reversed so β grows to the
  right, ticks labelled with β (0.9, 0.99, 0.999): equal room per decade of the averaging
  window, as the sampler spent equal effort there;
- categorical: a box per value with every trial drawn as a point;
- failed, killed and pruned trials are separate series: failed ones have no value and sit on
  a line above the finished ones; pruned ones show the last value they reported.
"""

from __future__ import annotations

import math
from typing import Any

from sweeplab.reports._dashboard_curves import CURVE_METRICS, Curve, ewma
from sweeplab.reports._dashboard_trials import SweepTrials, TrialRow
from sweeplab.space import Categorical, Constant, IntLogUniform, LogUniform
from sweeplab.space import OneMinusLogUniform as OneMinus
from sweeplab.tracking import TrialStatus

__all__ = [
    "GROUPS",
    "curves_figure",
    "group_of",
    "importance_figure",
    "parallel_figure",
    "param_figure",
]

# (key, legend label, colour, marker symbol)
GROUPS = (
    ("finished", "finished", "#1f77b4", "circle"),
    ("infeasible", "breaks a constraint", "#ff7f0e", "diamond"),
    ("pruned", "pruned (last value)", "#7f7f7f", "triangle-down"),
    ("failed", "failed / killed (no value: drawn on the top line)", "#d62728", "x"),
)
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 50}}


def group_of(t: TrialRow, objective: str) -> str:
    """finished | infeasible | pruned | failed | running (running trials are not drawn)."""
    finite = math.isfinite(t.value(objective))
    if t.status == TrialStatus.RUNNING:
        return "running"
    if t.status == TrialStatus.FINISHED and finite:
        return "finished" if t.feasible else "infeasible"
    if t.status == TrialStatus.PRUNED:
        return "pruned"
    return "failed"


def _top_line(sweep: SweepTrials) -> float:
    values = [t.value(sweep.objective) for t in sweep.trials]
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 1.0
    hi, lo = max(finite), min(finite)
    return hi + max(0.08 * (hi - lo), 0.02 * abs(hi), 1e-3)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _hover(t: TrialRow, objective: str) -> str:
    params = "<br>".join(f"{k} = {_fmt(v)}" for k, v in t.params.items())
    value = t.value(objective)
    shown = f"{value:.4f}" if math.isfinite(value) else t.status
    extra = f"<br>{t.reason[:120]}" if t.reason else ""
    return f"<b>#{t.number}</b> {t.status}<br>{objective} = {shown}<br>{params}{extra}"


def param_figure(sweep: SweepTrials, name: str):
    """``name`` against the objective, or ``None`` for a constant (nothing to see)."""
    import plotly.graph_objects as go

    dist = sweep.space[name].distribution
    if isinstance(dist, Constant):
        return None
    top = _top_line(sweep)
    fig = go.Figure()
    categorical = isinstance(dist, Categorical)
    for key, label, colour, symbol in GROUPS:
        rows = [t for t in sweep.trials if name in t.params and group_of(t, sweep.objective) == key]
        if not rows:
            continue
        ys = [
            t.value(sweep.objective) if math.isfinite(t.value(sweep.objective)) else top
            for t in rows
        ]
        text = [_hover(t, sweep.objective) for t in rows]
        if categorical:
            fig.add_trace(
                go.Box(
                    x=[str(t.params[name]) for t in rows],
                    y=ys,
                    name=label,
                    boxpoints="all",
                    jitter=0.4,
                    pointpos=0,
                    marker={"color": colour, "symbol": symbol, "size": 8},
                    line={"color": colour},
                    hovertext=text,
                    hoverinfo="text",
                )
            )
            continue
        xs = [float(t.params[name]) for t in rows]
        if isinstance(dist, OneMinus):
            xs = [1.0 - x for x in xs]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                name=label,
                marker={"color": colour, "symbol": symbol, "size": 9, "opacity": 0.85},
                hovertext=text,
                hoverinfo="text",
            )
        )
    xaxis: dict[str, Any] = {"title": {"text": name}}
    if categorical:
        xaxis.update(
            type="category", categoryorder="array", categoryarray=[str(v) for v in dist.values]
        )
        fig.update_layout(boxmode="group")
        scale = "categorical"
    elif isinstance(dist, LogUniform | IntLogUniform):
        xaxis.update(type="log", range=[math.log10(dist.low) - 0.05, math.log10(dist.high) + 0.05])
        scale = "log scale"
    elif isinstance(dist, OneMinus):
        lo, hi = math.log10(1.0 - dist.high), math.log10(1.0 - dist.low)
        decades = range(math.floor(lo), math.ceil(hi) + 1)
        ticks = sorted({round(10.0**d, 12) for d in decades} | {1.0 - dist.low, 1.0 - dist.high})
        ticks = [m for i, m in enumerate(ticks) if i == 0 or m / ticks[i - 1] > 1.3]
        xaxis.update(
            type="log",
            range=[hi + 0.05, lo - 0.05],  # reversed: β grows to the right
            tickvals=ticks,
            ticktext=[f"{1.0 - m:.6g}" for m in ticks],
            title={"text": f"{name} (β; axis: log of 1 − β)"},
        )
        scale = "1 − β log scale"
    else:
        xaxis.update(
            range=[
                dist.low - 0.03 * (dist.high - dist.low),
                dist.high + 0.03 * (dist.high - dist.low),
            ]
        )
        scale = "linear"
    fig.update_layout(
        title={"text": f"{name} ({type(dist).type_name}, {scale})"},
        xaxis=xaxis,
        yaxis={"title": {"text": sweep.objective}},
        legend={"orientation": "h", "y": -0.25},
        height=380,
        **_LAYOUT,
    )
    return fig


def _parcoords_dim(sweep: SweepTrials, name: str, rows: list[TrialRow]) -> dict | None:
    p_name = name
    dist = sweep.space[name].distribution
    if isinstance(dist, Constant):
        return None
    if isinstance(dist, Categorical):
        index = {str(v): i for i, v in enumerate(dist.values)}
        values = [index.get(str(t.params[name]), -1) if name in t.params else -1 for t in rows]
        ticks = list(range(len(dist.values)))
        labels = [str(v) for v in dist.values]
        lo, hi = 0, max(len(dist.values) - 1, 1)
        missing = -1.0
    else:
        if isinstance(dist, LogUniform | IntLogUniform):
            f = math.log10
            label = f"{name} (log)"
        elif isinstance(dist, OneMinus):
            f = lambda b: -math.log10(1.0 - b)  # noqa: E731 - grows with β: 1, 2, 3 for .9 .99 .999
            label = f"{name} (1 − β log)"
        else:
            f = float
            label = name
        lo, hi = sorted((f(dist.low), f(dist.high)))
        if hi == lo:
            hi = lo + 1.0
        values = [f(float(t.params[name])) if name in t.params else math.nan for t in rows]
        missing = lo - 0.12 * (hi - lo)
        if f is float:
            ticks, labels = None, None
        else:
            ticks = sorted({lo, hi, *range(math.ceil(lo), math.floor(hi) + 1)})
            back = (lambda v: 10.0**v) if f is math.log10 else (lambda v: 1.0 - 10.0**-v)
            labels = [f"{back(v):.3g}" for v in ticks]
        name = label
    dim: dict[str, Any] = {"label": name, "values": values}
    if not all(p_name in t.params for t in rows):
        # inactive conditional parameter: its own value below the axis range
        dim["values"] = [
            v if p_name in t.params else missing for v, t in zip(values, rows, strict=True)
        ]
        if ticks is None:
            ticks, labels = [lo, hi], [f"{lo:.3g}", f"{hi:.3g}"]
        ticks, labels = [missing, *ticks], ["inactive", *labels]
        lo = missing
    dim["range"] = [lo, hi]
    if ticks is not None:
        dim.update(tickvals=ticks, ticktext=labels)
    return dim


def parallel_figure(sweep: SweepTrials):
    """Parallel coordinates over the parameters and the objective (finished trials)."""
    import plotly.graph_objects as go

    rows = [t for t in sweep.trials if group_of(t, sweep.objective) in ("finished", "infeasible")]
    if not rows:
        return None
    dims = [d for p in sweep.space.names if (d := _parcoords_dim(sweep, p, rows)) is not None]
    values = [t.value(sweep.objective) for t in rows]
    dims.append({"label": sweep.objective, "values": values})
    fig = go.Figure(
        go.Parcoords(
            line={
                "color": values,
                "colorscale": "Viridis",
                "reversescale": sweep.goal == "minimize",  # the best trials in yellow
                "showscale": True,
                "colorbar": {"title": {"text": sweep.objective}},
            },
            dimensions=dims,
        )
    )
    fig.update_layout(
        title={
            "text": f"{len(rows)} finished trials: parameters (on their sampling scale) "
            f"and {sweep.objective}"
        },
        height=460,
        **{**_LAYOUT, "margin": {"l": 80, "r": 60, "t": 90, "b": 40}},
    )
    return fig


def curves_figure(curves_by_trial: dict[int, list[Curve]], *, beta: float):
    """Training vs dev per trial: raw values dotted and faint, bias-corrected EWMA solid
    (dev) or dashed (training); one colour per trial."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    titles = [f"{a} vs {b}" for a, b in CURVE_METRICS]
    fig = make_subplots(rows=1, cols=len(CURVE_METRICS), subplot_titles=titles)
    for i, (trial, curves) in enumerate(curves_by_trial.items()):
        colour = _PALETTE[i % len(_PALETTE)]
        by_metric = {c.metric: c for c in curves}
        for col, pair in enumerate(CURVE_METRICS, start=1):
            for metric in pair:
                c = by_metric.get(metric)
                if c is None or not c.steps:
                    continue
                dash = "solid" if metric.startswith("dev") else "dash"
                common = {"legendgroup": f"t{trial}", "x": c.steps}
                fig.add_trace(
                    go.Scatter(
                        y=c.values,
                        mode="lines",
                        name=f"#{trial} {metric} raw",
                        line={"color": colour, "width": 1, "dash": "dot"},
                        opacity=0.35,
                        showlegend=False,
                        **common,
                    ),
                    row=1,
                    col=col,
                )
                fig.add_trace(
                    go.Scatter(
                        y=ewma(c.values, beta),
                        mode="lines",
                        name=f"trial #{trial}"
                        if metric == pair[1] and col == 1
                        else f"#{trial} {metric}",
                        line={"color": colour, "width": 2, "dash": dash},
                        showlegend=metric == pair[1] and col == 1,
                        **common,
                    ),
                    row=1,
                    col=col,
                )
    for col, pair in enumerate(CURVE_METRICS, start=1):
        fig.update_xaxes(title_text="epoch", row=1, col=col)
        # losses of diverging trials span decades: a log axis keeps the good ones readable
        fig.update_yaxes(type="log" if pair[0].endswith("loss") else "linear", row=1, col=col)
    fig.update_layout(height=420, **_LAYOUT)
    return fig


IMPORTANCE_MEANING = {
    "fANOVA": "share of the objective's variance",
    "PED-ANOVA": "best 10 % vs all trials",
}


def importance_figure(importances: dict[str, dict[str, float]]):
    """One bar chart per evaluator, side by side, the parameters in the same order (by the
    first evaluator) so that a different ranking shows at a glance."""
    from plotly.subplots import make_subplots

    evaluators = list(importances)
    first = importances[evaluators[0]]
    names = sorted(set().union(*importances.values()), key=lambda n: first.get(n, -1.0))
    fig = make_subplots(
        rows=1,
        cols=len(evaluators),
        shared_yaxes=True,
        subplot_titles=[f"{e} ({IMPORTANCE_MEANING.get(e, 'importance')})" for e in evaluators],
    )
    import plotly.graph_objects as go

    for col, evaluator in enumerate(evaluators, start=1):
        values = importances[evaluator]
        fig.add_trace(
            go.Bar(
                x=[values.get(n, 0.0) for n in names],
                y=names,
                orientation="h",
                name=evaluator,
                marker={"color": "#1f77b4" if col == 1 else "#ff7f0e"},
            ),
            row=1,
            col=col,
        )
    fig.update_layout(
        title={
            "text": "hyperparameter importance on the Optuna study: " + " and ".join(evaluators)
        },
        showlegend=False,
        height=140 + 40 * len(names),
        **_LAYOUT,
    )
    return fig
