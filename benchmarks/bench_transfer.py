"""Transfer learning: epochs to reach a dev error, fine-tuned from a checkpoint vs from scratch.

Two setups, both LeNet-5 (``padding: same``, 3×3, max pooling, ReLU, He) on sklearn's 8×8
digits, in-process with the platform's ``fit`` and ``apply_transfer`` (one torch thread):

* ``classes`` — the shipped example (projects/digits_transfer_*.yaml): pre-train on every
  image of digits 0–4 (80 / 20), transfer to digits 5–9 with ``target_train`` images.
* ``domain`` — clean → degraded scans of the same ten digits, as the shipped projects
  projects/digits_noisy_transfer_*.yaml say it with the data options: the 1,797 images are
  cut in two disjoint halves (``data.part: {of: 2, index: 0|1, seed: 0}``): A = the clean
  first half (pre-training, 80 / 20), B = the second half with additive noise
  (``data.degrade: {degradations: [noise], strength: 0.6}``), of which ``target_train``
  images (stratified) train and the rest is dev / test (50 / 50). No image, clean or noisy,
  is in both A and B.

Per seed s (the target's split seed, the new output layer's init and the shuffling): scratch,
``fine_tune_all`` and ``freeze_backbone`` train ``epochs`` epochs with Adam, batch 16, each at
every learning rate of ``lr_grid``. The target X is fixed from the scratch runs only, before
the fine-tune curves are read: the median over seeds of scratch's dev error after the last
epoch, at scratch's best learning rate (lowest such median). "Epochs to target" is the first
epoch with dev error ≤ X (null if never; counted as epochs + 1 in the medians). Fine-tune and
freeze are reported at scratch's learning rate (same optimizer, same schedule) and at their
own best rate of the grid. The checkpoint is pre-trained once (seed 1000, as the shipped
pre-training project), as a user's pre-training sweep of one trial would leave it. Its seed
is none of the fine-tuning seeds: with ten classes in A and B, fine-tuning with the
pre-training's seed would start its "new" output layer where A's started, a head
half-trained already (it made seed 0 reach the target in 1 epoch before).
"""

from __future__ import annotations

import statistics
import time

from _common import cli_args, emit, log, median, spread

MODEL = {
    "padding": "same",
    "kernel_size": 3,
    "pooling": "max",
    "activation": "relu",
    "init": "he",
}
PRETRAIN = {"epochs": 15, "batch_size": 64, "learning_rate": 3.0e-3, "seed": 1000}
MODES = ("scratch", "fine_tune_all", "freeze_backbone")


def _tensors(ds, splits: dict, seed: int):
    from sweeplab.data import DataConfig, build_splits, prepare_tensors

    cfg = DataConfig(source="sklearn:digits", splits=splits, seed=seed)
    return prepare_tensors(ds, build_splits(ds, cfg), image=True)


def _fit(tensors, train: dict, state=None, mode: str = "scratch") -> tuple[list[float], object]:
    from sweeplab.models import build_model
    from sweeplab.models._transfer import apply_transfer
    from sweeplab.training import TrainConfig, TrainData, fit, seed_everything

    cfg = TrainConfig(device="cpu", optimizer="adam", **train)
    seed_everything(cfg.seed)
    model = build_model(
        "lenet5", MODEL, input_shape=tensors.input_shape, num_outputs=tensors.num_classes
    )
    apply_transfer(model, state, mode=mode)  # scratch: the fresh initialization
    sp = tensors.splits
    out = fit(model, TrainData(train=sp["train"], evals={"dev": sp["dev"]}), cfg, task="multiclass")
    return [round(h["dev_error"], 4) for h in out.history], model


def datasets(setup: str, *, noise: float = 0.6):
    """``(pretraining Dataset, target Dataset)`` of a setup (see the module docstring)."""
    from sweeplab.data import DataConfig, load_dataset

    def digits(**options):
        cfg = DataConfig(source="sklearn:digits", splits={"train": 0.5, "dev": 0.5}, **options)
        return load_dataset(cfg, base_dir=".")

    if setup == "classes":
        return digits(classes=[0, 1, 2, 3, 4]), digits(classes=[5, 6, 7, 8, 9])
    return digits(part={"of": 2, "index": 0, "seed": 0}), digits(
        part={"of": 2, "index": 1, "seed": 0},
        degrade={"degradations": ["noise"], "strength": noise, "seed": 0},
    )


def pretrain(ds_a):
    tensors = _tensors(ds_a, {"train": 0.8, "dev": 0.2}, 0)
    curve, model = _fit(tensors, PRETRAIN)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, curve[-1]


def epochs_to(curve: list[float], target: float) -> int | None:
    return next((e for e, d in enumerate(curve, 1) if d <= target + 1e-9), None)


def measure(
    setup: str, *, seeds: list[int], epochs: int, target_train: int, lr_grid: list[float]
) -> dict:
    """Curves of every mode × learning rate × seed, the target, epochs to it, summaries."""
    t0 = time.perf_counter()
    ds_a, ds_b = datasets(setup)
    state, pre_dev = pretrain(ds_a)
    curves: dict[str, dict[float, list[list[float]]]] = {
        m: {lr: [] for lr in lr_grid} for m in MODES
    }
    for s in seeds:
        tensors = _tensors(ds_b, {"train": target_train, "dev": 0.5, "test": 0.5}, s)
        for lr in lr_grid:
            train = {"epochs": epochs, "batch_size": 16, "learning_rate": lr, "seed": s}
            for mode in MODES:
                curves[mode][lr].append(_fit(tensors, train, state, mode)[0])
        log(f"{setup}: seed {s} done")

    def final_median(mode, lr):
        return median([c[-1] for c in curves[mode][lr]])

    scratch_lr = min(lr_grid, key=lambda lr: final_median("scratch", lr))
    target = final_median("scratch", scratch_lr)  # fixed before reading the transfer curves

    def summary(mode: str, lr: float) -> dict:
        hits = [epochs_to(c, target) for c in curves[mode][lr]]
        counted = [h if h is not None else epochs + 1 for h in hits]
        return {
            "learning_rate": lr,
            "epochs_to_target_per_seed": hits,
            "reached": f"{sum(h is not None for h in hits)}/{len(hits)}",
            "epochs_to_target": spread([float(c) for c in counted]),
            "dev_error_epoch1": spread([c[0] for c in curves[mode][lr]]),
            "dev_error_final": spread([c[-1] for c in curves[mode][lr]]),
            "median_dev_error_per_epoch": [
                round(statistics.median(col), 4) for col in zip(*curves[mode][lr], strict=True)
            ],
        }

    out: dict = {
        "pretrain_dev_error": pre_dev,
        "pretrain_examples": len(ds_a),
        "target_examples": len(ds_b),
        "target_train": target_train,
        "target_dev_error": target,
        "target_rule": f"median final dev error of scratch at its best lr ({scratch_lr:g})",
        "same_lr": {m: summary(m, scratch_lr) for m in MODES},
    }
    best = {}
    for mode in MODES:
        lr = min(
            lr_grid,
            key=lambda lr, mode=mode: (
                median([epochs_to(c, target) or epochs + 1 for c in curves[mode][lr]]),
                final_median(mode, lr),
            ),
        )
        best[mode] = summary(mode, lr)
    out["own_best_lr"] = best
    med = {m: out["same_lr"][m]["epochs_to_target"]["median"] for m in MODES}
    out["fine_tune_faster_than_scratch"] = med["fine_tune_all"] < med["scratch"]
    out["freeze_faster_than_scratch"] = med["freeze_backbone"] < med["scratch"]
    out["all_curves"] = {m: {str(lr): v for lr, v in c.items()} for m, c in curves.items()}
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> None:
    import torch

    torch.set_num_threads(1)
    args = cli_args(__doc__.splitlines()[0])
    started = time.perf_counter()
    seeds = list(range(3 if args.quick else 7))
    lr_grid = [3.0e-3, 1.0e-2] if args.quick else [1.0e-3, 3.0e-3, 1.0e-2]
    result: dict = {"what": __doc__.split("\n\n", 1)[1].strip(), "seeds": seeds, "lr_grid": lr_grid}
    result["model"] = {"name": "lenet5", **MODEL}
    result["pretrain"] = PRETRAIN
    for setup, target_train in (("classes", 50), ("domain", 50)):
        result[setup] = measure(
            setup, seeds=seeds, epochs=20, target_train=target_train, lr_grid=lr_grid
        )
        r = result[setup]
        log(
            f"{setup}: target {r['target_dev_error']}, epochs to it (median) "
            + ", ".join(f"{m} {r['same_lr'][m]['epochs_to_target']['median']}" for m in MODES)
        )
    emit("transfer", result, started=started)


if __name__ == "__main__":
    main()
