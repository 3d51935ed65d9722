"""Report building blocks without training: parameters back from MLflow, the ladder figure,
and a whole report rendered from synthetic predictions on a real (tabular) data set."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from sweeplab.analysis import diagnose
from sweeplab.reports._evaluate import Evaluation, SplitPredictions, TrialRef, parse_param
from sweeplab.reports._report import ladder_figure, ladder_gaps, render_report
from sweeplab.reports._report_data import build_report, thumbnail


@pytest.mark.parametrize(
    "value", [0.0028593, 1e-05, 3, 0, True, False, None, "adam", "relu", 1 / 3]
)
def test_parse_param_round_trips_str_of_a_sampled_value(value):
    back = parse_param(str(value))
    assert back == value and type(back) is type(value)


@pytest.mark.parametrize("text", ["[1, 2]", "__import__('os')", "a,b", "", "{'a': 1}"])
def test_parse_param_keeps_anything_else_as_text(text):
    assert parse_param(text) == text


def test_ladder_gaps_sit_between_their_rungs_and_mark_the_largest():
    d = diagnose(human=0.01, train=0.05, train_dev=0.08, dev=0.40, test=0.41)
    gaps = {g["name"]: g for g in ladder_gaps(d)}
    assert list(gaps) == ["avoidable_bias", "variance", "data_mismatch", "dev_overfit"]
    assert [g["x"] for g in gaps.values()] == [0.5, 1.5, 2.5, 3.5]
    assert [n for n, g in gaps.items() if g["largest"]] == ["data_mismatch"]
    fig = ladder_figure(d)
    assert list(fig.data[0].y) == pytest.approx([1.0, 5.0, 8.0, 40.0, 41.0])
    assert any(
        "data mismatch" in a.text and a.font.color == "#c62828" for a in fig.layout.annotations
    )


def test_ladder_without_train_dev_or_human_has_only_the_variance_gap():
    d = diagnose(human=None, train=0.05, train_dev=None, dev=0.10)
    gaps = ladder_gaps(d)
    assert [(g["name"], g["from"], g["to"]) for g in gaps] == [("variance", "train", "dev")]


def test_thumbnail_is_a_png_data_uri_scaled_up():
    import base64
    import io

    from PIL import Image

    uri = thumbnail(np.arange(64, dtype=np.float32).reshape(1, 8, 8), 0.0, 63.0, size=64)
    assert uri.startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert img.size == (64, 64)
    assert img.getpixel((0, 0)) == 255 and img.getpixel((63, 63)) == 0  # ink is dark


@pytest.fixture
def synthetic_evaluation(tmp_path):
    """Iris with the project's real splits and a fake model: 70% right, seeded."""
    from sweeplab.tasks import load_project, prepare_context

    path = tmp_path / "iris.yaml"
    path.write_text(
        textwrap.dedent(
            """
            name: iris-report
            data: {source: sklearn:iris, splits: {train: 0.6, train_dev: 0.1, dev: 0.3}, seed: 0}
            model: softmax
            metrics: {optimize: dev_error, satisfy: ["latency_ms <= 5"]}
            human_level_error: {error: 0.02, note: "a botanist"}
            """
        )
    )
    pf = load_project(path)
    ctx, ds, manifest = prepare_context(pf)
    rng = np.random.default_rng(0)
    preds = {}
    for split, idx in manifest.splits.items():
        y = ds.y[idx]
        y_pred = np.where(rng.random(len(y)) < 0.7, y, (y + 1) % 3)
        probs = np.full((len(y), 3), 0.1)
        probs[np.arange(len(y)), y_pred] = 0.8
        preds[split] = SplitPredictions(indices=idx, y_true=y, y_pred=y_pred, probs=probs)
    ref = TrialRef(
        sweep="s",
        info={},
        run_id="0" * 32,
        number=4,
        status="finished",
        feasible=True,
        params={"learning_rate": 0.01, "optimizer": "adam"},
        metrics={"dev_error": preds["dev"].error},
        objective="dev_error",
        goal="minimize",
        sweep_dir=tmp_path,
    )
    return Evaluation(ref, pf, ctx, ds, manifest, None, preds, "retrained", ["a note"])


def test_report_of_a_table_has_buckets_classes_and_the_ladder(synthetic_evaluation):
    ev = synthetic_evaluation
    data = build_report(ev)
    errors = ev.errors()
    assert data.diagnosis.ladder() == {
        "human": 0.02,
        "train": errors["train"],
        "train_dev": errors["train_dev"],
        "dev": errors["dev"],
    }
    cats = list(data.table.categories)
    assert any(c.startswith("true_class=") for c in cats)
    assert any(c.startswith("predicted_class=") for c in cats)
    buckets = [c for c in cats if "=Q" in c]
    assert buckets and len({c.split("=")[0] for c in buckets}) <= 4
    assert data.table.n_errors == int(
        (ev.predictions["dev"].y_true != ev.predictions["dev"].y_pred).sum()
    )
    assert data.examples and "thumb" not in data.examples[0]  # a table has no images
    assert int(data.confusion.to_numpy().sum()) == len(ev.predictions["dev"].y_true)

    html, md = render_report(data)
    for text in (html, md):
        assert data.diagnosis.verdict in text
        assert "a botanist" in text and "a note" in text
        assert "sweeplab report " + "0" * 32 + " --final" in text
    assert "latency_ms &lt;= 5" in html and "latency_ms <= 5" in md
    assert html.count('class="js-plotly-plot"') + html.count("plotly-graph-div") >= 1
    assert "<script src=" not in html  # plotly's JS is inline
    assert "| setosa |" in md  # per-class table
    summary = data.summary()
    assert summary["trial"] == 4 and summary["diagnosis"]["problem"] == data.diagnosis.problem
    assert all(
        c["errors"] <= c["examined"] and (c["ceiling"] is None or c["ceiling"] >= 0)
        for c in summary["error_table"]["categories"]
    )
    assert len(data.per_class) == 3


def test_html_escapes_what_comes_from_the_data(synthetic_evaluation):
    ev = synthetic_evaluation
    ev.ref.params["optimizer"] = "<script>alert(1)</script>"
    html, _ = render_report(build_report(ev))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)" in html


HOSTILE_CLASSES = ["se|tosa", "<img src=x onerror=alert(1)>", "vir\nginica|"]


def test_markdown_tables_keep_their_shape_and_show_data_html_as_text(synthetic_evaluation):
    """Class names with `|`, a line break or raw HTML neither break report.md's tables nor
    reach a Markdown viewer as HTML."""
    import dataclasses

    ev = synthetic_evaluation
    ev.ref.params["optimizer"] = "<script>alert(1)</script>"
    ev = dataclasses.replace(
        ev, dataset=dataclasses.replace(ev.dataset, classes=list(HOSTILE_CLASSES))
    )
    _, md = render_report(build_report(ev))
    assert "<img" not in md and "<script>" not in md
    assert "&lt;img src=x onerror=alert(1)&gt;" in md and "se&#124;tosa" in md
    tables: list[list[str]] = []
    previous = ""
    for line in md.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append(line)
        previous = line
    assert len(tables) >= 5  # composition, categories, confusion, per class, examples
    for table in tables:
        widths = {line.count("|") for line in table}
        assert len(widths) == 1, table  # every row has the header's cells
    per_class = next(t for t in tables if t[0].startswith("| class |"))
    assert len(per_class) == 2 + len(HOSTILE_CLASSES)
