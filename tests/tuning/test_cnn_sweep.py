"""CNN sweeps and transfer learning end to end: shipped projects, a real Optuna study, a real
MLflow store with the checkpoint artifact, and fine-tuning from the best pre-trained trial."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from sweeplab.cli import main
from sweeplab.errors import UserError
from sweeplab.models import MODELS
from sweeplab.space import load_space
from sweeplab.tasks import check_space_names, load_project, prepare_context, run_trial
from sweeplab.training import TrainConfig

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


SHIPPED = [
    ("projects/digits_cnn.yaml", "search_spaces/lenet5.yaml", "lenet5"),
    ("projects/digits_cnn.yaml", "search_spaces/resnet.yaml", "resnet"),
    ("projects/digits_cnn.yaml", "search_spaces/inception.yaml", "inception"),
    ("projects/digits_transfer_finetune.yaml", "search_spaces/transfer.yaml", "lenet5"),
    ("projects/digits_noisy_transfer_finetune.yaml", "search_spaces/noisy_transfer.yaml", "lenet5"),
]


@pytest.mark.parametrize(("project", "space", "model"), SHIPPED)
def test_shipped_spaces_name_only_model_arguments_and_training_settings(project, space, model):
    pf = load_project(REPO / project)
    assert pf.project.data.splits.sizes()  # loads and validates
    spec = MODELS.get(model)
    check_space_names(
        load_space(REPO / space),
        model_name=model,
        model_fields=frozenset(spec.args.model_fields),
        train_fields=frozenset(TrainConfig.model_fields),
        space_file=space,
    )


def test_cnn_project_uses_the_mlp_projects_splits():
    cnn, mlp = (load_project(REPO / f"projects/digits_{m}.yaml").project for m in ("cnn", "mlp"))
    assert cnn.data == mlp.data
    assert MODELS.get(cnn.model.name).input_kind == "image"


def _tiny(tmp_path: Path, name: str, classes: list[int], train: str, splits: str) -> Path:
    return write(
        tmp_path / f"{name}.yaml",
        f"""
        name: {name}
        data:
          source: sklearn:digits
          classes: {classes}
          splits: {splits}
          seed: 0
        model: {{name: lenet5, padding: same, kernel_size: 3, pooling: max, activation: relu, init: he}}
        train: {train}
        search: {{trials: 1}}
        """,
    )


@pytest.mark.slow
def test_cnn_sweep_with_augmentation_finishes(tmp_path: Path, workspace: Path) -> None:
    write(
        tmp_path / "space.yaml",
        """
        parameters:
          learning_rate: {distribution: log_uniform, min: 1.0e-3, max: 1.0e-2}
          augment_crop: {values: [0, 1]}
          augment_rotate: {distribution: uniform, min: 0.0, max: 10.0}
        """,
    )
    project = write(
        tmp_path / "cnn.yaml",
        """
        name: tiny-cnn
        data:
          source: sklearn:digits
          splits: {train: 0.7, train_dev: 0.1, dev: 0.1, test: 0.1}
          seed: 0
        model: {name: lenet5, padding: same, kernel_size: 3, pooling: max, activation: relu, init: he}
        train: {epochs: 3, batch_size: 64, optimizer: adam}
        search: {space: space.yaml, sampler: random, trials: 2, seed: 0}
        """,
    )
    assert main(["sweep", str(project), "--name", "cnn"]) == 0
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{workspace / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="pandas")
    trials = runs[runs["tags.sweeplab.kind"] == "trial"]
    assert len(trials) == 2 and set(trials["status"]) == {"FINISHED"}
    # 3 epochs of LeNet-5 on digits already beat chance (0.9) by far
    assert (trials["metrics.dev_error"].astype(float) < 0.5).all()
    assert set(trials["params.train.augment_crop"]) <= {"0", "1"}


@pytest.mark.slow
def test_pretrain_logs_a_checkpoint_and_finetune_starts_from_the_best_trial(
    tmp_path: Path, workspace: Path
) -> None:
    splits = "{train: 0.8, dev: 0.2}"
    pre = _tiny(tmp_path, "pre", [0, 1, 2, 3, 4], "{epochs: 2, save_checkpoint: true}", splits)
    assert main(["sweep", str(pre), "--name", "pre"]) == 0

    from mlflow import MlflowClient

    from sweeplab.tracking import load_checkpoint

    client = MlflowClient(f"sqlite:///{workspace / 'mlflow.db'}")
    exp = client.get_experiment_by_name("pre")
    (trial,) = client.search_runs([exp.experiment_id], "tags.`sweeplab.kind` = 'trial'")
    assert [a.path for a in client.list_artifacts(trial.info.run_id, "weights")] == [
        "weights/state_dict.pt"
    ]
    by_id = load_checkpoint(trial.info.run_id)  # default workspace store, weights_only
    by_best = load_checkpoint("best:pre")
    assert by_id.keys() == by_best.keys() and "head.out.weight" in by_id
    assert by_id["head.out.weight"].shape[0] == 5

    fine = _tiny(
        tmp_path,
        "fine",
        [5, 6, 7, 8, 9],
        "{epochs: 1, init_from: 'best:pre', transfer: freeze_backbone}",
        "{train: 100, dev: 0.5, test: 0.5}",
    )
    ctx, _, _ = prepare_context(load_project(fine))
    for k, v in by_id.items():
        torch.testing.assert_close(ctx.init_state[k], v, rtol=0, atol=0)
    result = run_trial(ctx, {}, keep_model=True)
    state = result.model.state_dict()
    for k, v in by_id.items():  # frozen: the backbone is still the checkpoint's
        if not k.startswith("head.out."):
            torch.testing.assert_close(state[k], v, rtol=0, atol=0)
    assert result.metrics["dev_error"] < 0.8  # the new head learned something in one epoch

    # the whole flow through the CLI too
    assert main(["sweep", str(fine), "--name", "fine"]) == 0

    # another architecture: the trial fails with a message that says why
    other = _tiny(
        tmp_path,
        "other",
        [5, 6, 7, 8, 9],
        "{epochs: 1, init_from: 'best:pre'}",
        "{train: 100, dev: 0.5, test: 0.5}",
    )
    text = other.read_text().replace("kernel_size: 3", "kernel_size: 5")
    other.write_text(text)
    ctx, _, _ = prepare_context(load_project(other))
    with pytest.raises(UserError, match="does not fit 'lenet5'.*another shape"):
        run_trial(ctx, {})


@pytest.mark.slow
def test_unknown_run_and_project_are_clear_errors(workspace: Path) -> None:
    from sweeplab.tracking import load_checkpoint

    with pytest.raises(UserError, match="no MLflow experiment named 'nope'"):
        load_checkpoint("best:nope")
    with pytest.raises(UserError, match="no MLflow run"):
        load_checkpoint("runs:/" + "0" * 32)
