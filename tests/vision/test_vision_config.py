"""Bad vision-task input gets one line (file, line, key, close matches), exit 2; the shipped
vision projects load and their spaces name only model, task or training settings."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from sweeplab.cli import main
from sweeplab.models import MODELS, build_model
from sweeplab.space import load_space
from sweeplab.tasks import check_space_names, load_project, prepare_context

REPO = Path(__file__).resolve().parents[2]

DETECTION = """
name: det
data:
  source: generated:shapes_detection
  generate: {n: 40, image_size: 32, seed: 0}
  splits: {train: 0.75, dev: 0.25}
task: detection
model: {name: grid_detector, filters: 4}
task_args: {lambda_coord: 5.0}
train: {epochs: 1, batch_size: 16}
search: {space: space.yaml}
"""


def _run(tmp_path: Path, project: str, space: str = "parameters: {}\n") -> int:
    (tmp_path / "project.yaml").write_text(textwrap.dedent(project).lstrip())
    (tmp_path / "space.yaml").write_text(space)
    return main(["sweep", str(tmp_path / "project.yaml"), "--workspace", str(tmp_path / "ws")])


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]  # not progress lines
    assert len(lines) == 1, err
    return lines[0]


def test_unknown_task_arg_is_one_line_with_a_close_match(tmp_path, capsys) -> None:
    assert _run(tmp_path, DETECTION.replace("lambda_coord:", "lambda_cord:")) == 2
    err = _one_line(capsys)
    assert "project.yaml:8" in err and "task_args" in err and "'lambda_cord'" in err
    assert "Did you mean 'lambda_coord'" in err


def test_searched_task_arg_that_does_not_exist_is_one_line(tmp_path, capsys) -> None:
    space = "parameters:\n  lambda_noob: {distribution: uniform, min: 0.1, max: 1.0}\n"
    assert _run(tmp_path, DETECTION, space) == 2
    err = _one_line(capsys)
    assert "space.yaml:2" in err and "unknown parameter 'lambda_noob'" in err
    assert "detection task setting" in err and "Did you mean 'lambda_noobj'" in err


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("generate: {n: 40,", "generate: {nn: 40,", "unknown argument 'nn'"),
        ("generated:shapes_detection", "generated:shapes_detectoin", "generated:shapes_detection"),
        ("task: detection", "task: detectoin", "'detection'"),
        ("name: grid_detector", "name: unet", "does not support task 'detection'"),
        ("train: {epochs: 1,", "train: {augment_rotate: 10, epochs: 1,", "cannot rotate"),
        (
            "  splits: {train: 0.75, dev: 0.25}",
            "  splits: {train: 0.5, train_dev: 0.25, dev: 0.25}",
            "train_dev",
        ),
    ],
)
def test_bad_vision_project_is_one_line(tmp_path, capsys, old, new, expected) -> None:
    assert old in DETECTION
    assert _run(tmp_path, DETECTION.replace(old, new)) == 2
    assert expected in _one_line(capsys)


LOCALIZATION = """
name: loc
data:
  source: generated:shapes_localization
  generate: {n: 40, image_size: 16, seed: 0}
  splits: {train: 0.75, dev: 0.25}
task: localization
model: {name: localizer, filters: 4, stages: 2}
task_args: {lambda_box: 5.0}
train: {epochs: 1, batch_size: 16}
search: {space: space.yaml}
"""


def test_localization_unknown_task_arg_is_one_line_with_a_close_match(tmp_path, capsys) -> None:
    assert _run(tmp_path, LOCALIZATION.replace("lambda_box:", "lambda_bx:")) == 2
    err = _one_line(capsys)
    assert "project.yaml:8" in err and "'lambda_bx'" in err
    assert "Did you mean 'lambda_box'" in err


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("name: localizer", "name: grid_detector", "does not support task 'localization'"),
        (
            "generate: {n: 40,",
            "generate: {max_objects: 2, n: 40,",
            "unknown argument 'max_objects'",
        ),
        ("lambda_box: 5.0", "lambda_box: 0", "greater than 0"),
        (
            "generated:shapes_localization",
            "generated:shapes_detection",
            "generated:shapes_localization",
        ),
        # landmarks: its own source and model; no task settings
        ("task: localization", "task: landmarks", "generated:shapes_landmarks"),
    ],
)
def test_bad_localization_project_is_one_line(tmp_path, capsys, old, new, expected) -> None:
    assert old in LOCALIZATION
    assert _run(tmp_path, LOCALIZATION.replace(old, new)) == 2
    assert expected in _one_line(capsys)


def test_landmark_project_checks_model_and_task_args(tmp_path, capsys) -> None:
    landmarks = LOCALIZATION.replace("shapes_localization", "shapes_landmarks").replace(
        "task: localization", "task: landmarks"
    )
    assert _run(tmp_path, landmarks) == 2  # lambda_box is localization's
    assert "unknown key 'lambda_box'" in _one_line(capsys)
    landmarks = landmarks.replace("task_args: {lambda_box: 5.0}\n", "")
    assert _run(tmp_path, landmarks) == 2  # the localizer has a box head
    assert "does not support task 'landmarks'" in _one_line(capsys)
    landmarks = landmarks.replace("name: localizer", "name: landmark_regressor")
    assert _run(tmp_path, landmarks, "parameters:\n  hiden: {values: [8]}\n") == 2
    assert "Did you mean 'hidden'" in _one_line(capsys)


def test_style_transfer_rejects_unknown_sample_and_dev_error(tmp_path, capsys) -> None:
    style = (
        (REPO / "projects/style_transfer.yaml")
        .read_text()
        .replace("../search_spaces/style_transfer.yaml", "space.yaml")
    )
    space = "parameters: {}\n"
    assert _run(tmp_path, style.replace("skimage:coffee", "skimage:cofee"), space) == 2
    assert "Did you mean 'skimage:coffee'?" in _one_line(capsys)
    assert _run(tmp_path, style.replace("name: cost_ratio", "name: dev_error"), space) == 2
    assert "cost_ratio" in _one_line(capsys)


SHIPPED = [
    ("shapes_detection", "detection"),
    ("shapes_segmentation", "segmentation"),
    ("faces_verification", "verification"),
    ("style_transfer", "style_transfer"),
    ("shapes_localization", "localization"),
    ("shapes_landmarks", "landmarks"),
]


@pytest.mark.parametrize(("name", "task"), SHIPPED)
def test_shipped_vision_projects_load_and_their_spaces_route(name: str, task: str) -> None:
    pf = load_project(REPO / f"projects/{name}.yaml")
    from sweeplab.tasks import TASKS, task_of
    from sweeplab.training import TrainConfig

    assert task_of(pf.project) == task
    spec = MODELS.get(pf.project.model.name)
    assert task in spec.tasks
    style = task == "style_transfer"
    check_space_names(
        load_space(pf.resolve(pf.project.search.space)),
        model_name=spec.name,
        model_fields=frozenset() if style else frozenset(spec.args.model_fields),
        train_fields=frozenset() if style else frozenset(TrainConfig.model_fields),
        task_fields=frozenset(TASKS.get(task).args.model_fields),
        task=task,
        space_file=name,
    )


def test_identity_splits_keep_dev_and_test_identities_out_of_training(tmp_path) -> None:
    import pickle

    pf = load_project(REPO / "projects/faces_verification.yaml")
    ctx, _, manifest = prepare_context(pf, manifest_path=tmp_path / "splits.json")
    ids = {k: set(v.labels.tolist()) for k, v in ctx.task_data.items()}
    assert len(ids["train"]) == 140 and len(ids["dev"]) == 30 and len(ids["test"]) == 30
    assert not ids["train"] & ids["dev"] and not ids["train"] & ids["test"]
    assert not ids["dev"] & ids["test"]
    again, _, m2 = prepare_context(pf, manifest_path=tmp_path / "splits.json")  # reused
    assert m2 == manifest
    assert pickle.loads(pickle.dumps(ctx)).task_fields == ctx.task_fields  # Ray ships it


@pytest.mark.parametrize(
    "name",
    MODELS.names(
        lambda s: (
            s.name
            in {"grid_detector", "unet", "siamese_encoder", "feature_net", "localizer"}
            | {"landmark_regressor"}
        )
    ),
)
def test_vision_registry_models_forward_backward(name: str) -> None:
    spec = MODELS.get(name)
    torch.manual_seed(0)
    model = build_model(name, {}, input_shape=spec.example_input, num_outputs=spec.example_outputs)
    out = model(torch.rand(2, *spec.example_input))
    c, h, w = spec.example_input
    expected = {
        "grid_detector": (2, h // 8, w // 8, 3, 5 + spec.example_outputs),
        "unet": (2, spec.example_outputs, h, w),
        "siamese_encoder": (2, 128),
        "feature_net": (2, spec.example_outputs),
        "localizer": (2, 1 + 4 + spec.example_outputs),  # p_c, box, classes
        "landmark_regressor": (2, 1 + 2 * spec.example_outputs),  # p_c, L points
    }[name]
    assert tuple(out.shape) == expected
    out.float().pow(2).mean().backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
