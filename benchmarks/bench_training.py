"""Target 1: ``sweeplab.training.fit`` versus a hand-written PyTorch loop (samples/s ratio ≥ 0.95).

Both train the same model (same seed, so the same initial weights) on the same in-memory
digits tensors, with the same batch size, optimizer (Adam, α = 1e-3) and number of epochs:

* ``fit``: what every trial runs (shuffle with a seeded generator, index slicing, step losses
  kept on the device, a finiteness check every 32 steps, EWMA of the loss, per-epoch
  evaluation of train / train_dev / dev in eval mode, one host sync per epoch for metrics).
* hand-written: the minimal loop a careful user writes — ``randperm`` + index slicing,
  ``cross_entropy``, ``zero_grad(set_to_none=True)`` / ``backward`` / ``step`` with
  ``torch.optim.Adam``'s default implementation, then per epoch the same evaluation of the
  same three sets (loss and error, eval mode, no_grad), read back once.
* hand-written with ``Adam(fused=True)`` (``hand_fused``): the same loop with the optimizer
  kernel ``fit`` uses, so ``ratio_fit_over_hand_fused`` compares the loops alone.

Samples/s = epochs × training examples / wall time of the training call (model built and
data prepared outside the timing). Run alone: ``python benchmarks/bench_training.py``.

``gpu``: where ``torch.cuda.is_available()``, ``fit`` of the LeNet-5 on CUDA versus on the CPU
(samples/s, interleaved); otherwise ``"not available"``.
"""

from __future__ import annotations

import time

from _common import (
    cli_args,
    emit,
    interleaved,
    log,
    median,
    spread,
    temp_dir,
    timed,
    write_project,
)

MODELS = {
    "mlp": {
        "name": "mlp",
        "activation": "relu",
        "init": "he",
        "hidden_units": 128,
        "num_layers": 2,
    },
    # LeNet-5 on the 1×8×8 digits: 'same' padding keeps 8 -> 4 -> 2 through the two pools
    "lenet5": {"name": "lenet5", "padding": "same", "kernel_size": 5},
}


def _context(model: dict, folder):
    from sweeplab.data import load_checked_project
    from sweeplab.tuning import prepare_context

    pf = load_checked_project(write_project(folder, name=f"bench-{model['name']}", model=model))
    ctx, _, _ = prepare_context(pf)
    return ctx


def _build(ctx, seed: int = 0):
    from sweeplab.models import build_model
    from sweeplab.training import seed_everything

    seed_everything(seed)
    return build_model(
        ctx.model_name,
        ctx.model_args,
        input_shape=ctx.tensors.input_shape,
        num_outputs=ctx.tensors.num_classes,
    )


def hand_loop(
    model, X, y, evals, *, epochs: int, batch_size: int, lr: float, seed: int, fused: bool = False
) -> None:
    """The fair minimal loop: in-memory tensors, shuffled index slicing, per-epoch eval.
    ``fused``: torch's fused Adam (what ``fit`` uses) instead of its default."""
    import torch
    import torch.nn.functional as F

    extra = {"fused": True} if fused else {}
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8, **extra)
    gen = torch.Generator().manual_seed(seed)
    m = X.shape[0]
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(m, generator=gen)
        total = torch.zeros(())
        for i in range(0, m, batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        model.eval()
        with torch.no_grad():
            stats = [total / ((m + batch_size - 1) // batch_size)]
            for Xe, ye in [(X, y), *evals]:
                logits = model(Xe)
                stats += [F.cross_entropy(logits, ye), (logits.argmax(1) != ye).float().mean()]
            torch.stack(stats).tolist()  # one host read per epoch, as fit does


def measure(model_spec: dict, *, epochs: int, repeats: int, folder) -> dict:
    import torch

    from sweeplab.training import TrainConfig, TrainData, fit

    ctx = _context(model_spec, folder / model_spec["name"])
    splits = ctx.tensors.splits
    X, y = splits["train"]
    evals = {k: v for k, v in splits.items() if k in ("train_dev", "dev")}
    cfg = TrainConfig(
        epochs=epochs, batch_size=64, optimizer="adam", learning_rate=1e-3, device="cpu"
    )
    m = X.shape[0]

    def run_fit() -> tuple[float, float]:
        model = _build(ctx)
        return timed(
            lambda: fit(model, TrainData(train=(X, y), evals=evals), cfg, task="multiclass")
        )

    def hand(fused: bool):
        def run() -> tuple[float, float]:
            model = _build(ctx)
            vals = list(evals.values())
            return timed(
                lambda: hand_loop(
                    model, X, y, vals, epochs=epochs, batch_size=64, lr=1e-3, seed=0, fused=fused
                )
            )

        return run

    times, cpu = interleaved(
        {"fit": run_fit, "hand": hand(False), "hand_fused": hand(True)}, repeats=repeats
    )
    cpu_ratio = median(cpu["hand"]) / median(cpu["fit"])
    sps = {k: [epochs * m / t for t in v] for k, v in times.items()}
    ratios = [f / h for f, h in zip(sps["fit"], sps["hand"], strict=True)]
    ratio = median(sps["fit"]) / median(sps["hand"])
    log(
        f"{model_spec['name']}: fit {median(sps['fit']):.0f} sps, hand {median(sps['hand']):.0f} sps"
    )
    return {
        "model": model_spec,
        "params_count": sum(p.numel() for p in _build(ctx).parameters()),
        "input_shape": list(ctx.tensors.input_shape),
        "train_examples": m,
        "eval_sets": {k: int(v[0].shape[0]) for k, v in evals.items()},
        "epochs": epochs,
        "batch_size": 64,
        "optimizer": "adam lr=1e-3",
        "torch_threads": torch.get_num_threads(),
        "fit_samples_per_s": spread(sps["fit"]),
        "hand_samples_per_s": spread(sps["hand"]),
        "ratio_fit_over_hand": round(ratio, 4),
        "ratio_per_pair": spread(ratios),
        # the loop itself, with the optimizer kernel equal on both sides
        "hand_fused_samples_per_s": spread(sps["hand_fused"]),
        "ratio_fit_over_hand_fused": round(median(sps["fit"]) / median(sps["hand_fused"]), 4),
        "cpu_s_fit": spread(cpu["fit"]),
        "cpu_s_hand": spread(cpu["hand"]),
        "ratio_by_cpu_time": round(cpu_ratio, 4),
        "target": ">= 0.95",
        "met": ratio >= 0.95,
    }


def gpu_vs_cpu(model_spec: dict, *, epochs: int, repeats: int, folder) -> dict | str:
    """``fit`` samples/s on CUDA and on the CPU (same model, data, seed), or "not available"."""
    import torch

    from sweeplab.training import TrainConfig, TrainData, fit

    if not torch.cuda.is_available():
        return "not available"
    ctx = _context(model_spec, folder / f"{model_spec['name']}-gpu")
    splits = ctx.tensors.splits
    m = splits["train"][0].shape[0]

    def run_on(device: str):
        on = {k: (X.to(device), y.to(device)) for k, (X, y) in splits.items()}
        evals = {k: v for k, v in on.items() if k in ("train_dev", "dev")}
        cfg = TrainConfig(
            epochs=epochs, batch_size=64, optimizer="adam", learning_rate=1e-3, device=device
        )

        def go() -> tuple[float, float]:
            model = _build(ctx).to(device)
            data = TrainData(train=on["train"], evals=evals)
            t = timed(lambda: fit(model, data, cfg, task="multiclass"))
            if device == "cuda":
                torch.cuda.synchronize()
            return t

        return go

    times, _ = interleaved({"cuda": run_on("cuda"), "cpu": run_on("cpu")}, repeats=repeats)
    sps = {k: [epochs * m / t for t in v] for k, v in times.items()}
    return {
        "model": model_spec,
        "device_name": torch.cuda.get_device_name(0),
        "batch_size": 64,
        "epochs": epochs,
        "cuda_samples_per_s": spread(sps["cuda"]),
        "cpu_samples_per_s": spread(sps["cpu"]),
        "cpu_threads": torch.get_num_threads(),
        "ratio_cuda_over_cpu": round(median(sps["cuda"]) / median(sps["cpu"]), 3),
    }


def main() -> None:
    args = cli_args(__doc__.splitlines()[0])
    started = time.perf_counter()
    epochs, repeats = (5, 3) if args.quick else (10, 7)
    with temp_dir("training") as folder:
        results = {
            name: measure(spec, epochs=epochs, repeats=repeats, folder=folder)
            for name, spec in MODELS.items()
        }
        gpu = gpu_vs_cpu(MODELS["lenet5"], epochs=epochs, repeats=repeats, folder=folder)
    emit(
        "training_loop",
        {
            "what": {
                "fit": "sweeplab.training.fit: seeded shuffle, index slicing, on-device step "
                "losses, finiteness check every 32 steps, loss EWMA, per-epoch eval of "
                "train/train_dev/dev (loss + error), one host sync per epoch",
                "hand": "minimal PyTorch loop: randperm + index slicing, cross_entropy, "
                "zero_grad/backward/step (torch's default Adam), per-epoch eval of the same "
                "three sets (loss + error), one host read per epoch",
                "hand_fused": "the same loop with Adam(fused=True), the kernel fit uses",
                "samples_per_s": "epochs x train examples / wall time of the training call",
            },
            "models": results,
            "gpu": gpu,
            "met": all(r["met"] for r in results.values()),
        },
        started=started,
    )


if __name__ == "__main__":
    main()
