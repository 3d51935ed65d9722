"""Out-of-sample class probabilities of train + dev, by cross-fitting the trial's configuration.

Label checks need probabilities from models that never saw the label they judge (a model that
memorised a wrong label agrees with it). So the chosen trial's configuration is trained again
on folds: train and dev are pooled, cut into ``FOLDS`` stratified folds ``REPEATS`` times
(seeded), and each example is scored only by the models whose training folds left it out;
its probabilities are the mean over the ``REPEATS`` models that scored it.

The result is cached as the artifact ``labels/out_of_sample.npz`` of the trial's run, so a
second report does not re-train; ``sweeplab report --refit-labels`` computes it again.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from sweeplab.tasks import run_trial, trial_setup
from sweeplab.training import predict

__all__ = ["ARTIFACT", "OutOfSample", "crossfit", "out_of_sample", "pooled"]

ARTIFACT = "labels/out_of_sample.npz"
FOLDS = 5
REPEATS = 3
SEED = 0
MAX_BYTES = 256 * 2**20  # a cached file larger than this is not read (re-computed instead)
INNER_DEV = 0.1  # share of a fold's training part held out for early stopping, when used


@dataclass(frozen=True)
class OutOfSample:
    """``probs[i]``: mean probabilities of dataset row ``indices[i]`` over the models that did
    not train on it; ``folds[r, i]``: its fold in repeat ``r`` (model ``(r, f)`` trained on
    the examples with ``folds[r] != f`` only). ``method`` says how it was obtained."""

    indices: np.ndarray  # (n,) dataset rows: train then dev
    probs: np.ndarray  # (n, K)
    folds: np.ndarray  # (REPEATS, n)
    method: str


FitPredict = Callable[[np.ndarray, np.ndarray], np.ndarray]


def crossfit(
    y: np.ndarray,
    fit_predict: FitPredict,
    *,
    folds: int = FOLDS,
    repeats: int = REPEATS,
    seed: int = SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """``(probs (n, K), folds (repeats, n))``: ``fit_predict(train_pos, score_pos)`` trains on
    the positions ``train_pos`` and returns probabilities ``(len(score_pos), K)``; every
    position is scored once per repeat, by a model that did not train on it."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(y)
    stratify = False
    if y.ndim == 1:  # one class per example; multi-label (n, T) folds are not stratified
        counts = np.bincount(y)
        stratify = counts[counts > 0].min() >= folds
    assignment = np.empty((repeats, n), dtype=np.int64)
    total = None
    for r in range(repeats):
        split = (StratifiedKFold if stratify else KFold)(
            n_splits=folds, shuffle=True, random_state=seed + r
        )
        for f, (train_pos, score_pos) in enumerate(split.split(np.zeros(n), y)):
            assignment[r, score_pos] = f
            probs = np.asarray(fit_predict(train_pos, score_pos), dtype=np.float64)
            if total is None:
                total = np.zeros((n, probs.shape[1]))
            total[score_pos] += probs
    return total / repeats, assignment


def _trial_fit_predict(ctx: Any, params: dict[str, Any], X: Any, y: Any) -> FitPredict:
    """Train the trial's configuration on some positions of (X, y); predict others."""
    import torch

    stops_early = trial_setup(ctx, params).cfg.early_stopping_patience is not None
    # every fold trains on all of its training part: the pooled data is the data (a trial's
    # train_share is how much of its train split a sweep used)
    if "train_share" in ctx.train_fields:
        params = {**params, "train_share": 1.0}

    def fit_predict(train_pos: np.ndarray, score_pos: np.ndarray) -> np.ndarray:
        train_pos = np.asarray(train_pos)
        splits = {}
        if stops_early:  # early stopping watches an inner dev set cut from the training part
            rng = np.random.default_rng(SEED)
            inner = rng.permutation(train_pos)
            k = max(1, int(INNER_DEV * len(inner)))
            splits["dev"] = (X[torch.from_numpy(inner[:k])], y[torch.from_numpy(inner[:k])])
            train_pos = inner[k:]
        t = torch.from_numpy(train_pos)
        splits["train"] = (X[t], y[t])
        fold_ctx = replace(
            ctx,
            tensors=replace(ctx.tensors, splits=splits),
            tracking=None,
            _device_cache={},
        )
        model = run_trial(fold_ctx, params, None, keep_model=True).model
        _, probs = predict(model, X[torch.from_numpy(np.asarray(score_pos))], task=ctx.task)
        if ctx.task == "binary":  # (n,) P(y=1) -> (n, 2)
            probs = np.column_stack([1.0 - probs, probs])
        return probs

    return fit_predict


def pooled(ctx: Any, manifest: Any) -> tuple[np.ndarray, Any, Any]:
    import torch

    parts = [s for s in ("train", "dev") if s in manifest.splits]
    indices = np.concatenate([manifest.splits[s] for s in parts])
    X = torch.cat([ctx.tensors.splits[s][0].cpu() for s in parts])
    y = torch.cat([ctx.tensors.splits[s][1].cpu() for s in parts])
    return indices, X, y


def _load_cached(client: Any, run_id: str, indices: np.ndarray) -> OutOfSample | None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(client.download_artifacts(run_id, ARTIFACT, tmp))
        except Exception:  # noqa: BLE001 - none cached (OSError or MlflowException)
            return None
        if local.stat().st_size > MAX_BYTES:
            return None
        try:
            with np.load(local, allow_pickle=False) as z:
                cached = {k: z[k] for k in ("indices", "probs", "folds")}
        except (OSError, ValueError, KeyError):
            return None
    if not np.array_equal(cached["indices"], indices):  # the splits changed since: re-compute
        return None
    return OutOfSample(
        method=f"cross-fitting the trial's configuration ({cached['folds'].max() + 1}-fold × "
        f"{len(cached['folds'])} repeats on train + dev; cached in the run's {ARTIFACT})",
        **cached,
    )


def out_of_sample(
    ref: Any, ctx: Any, data: tuple[np.ndarray, Any, Any], client: Any, *, refit: bool = False
) -> tuple[OutOfSample, str | None]:
    """The cached out-of-sample probabilities of the trial ``ref`` (its sweep's context
    ``ctx``), or new ones (cached then); ``data``: train + dev as :func:`pooled` gives them.
    Returns them and a note when caching failed."""
    indices, X, y = data
    if not refit:
        cached = _load_cached(client, ref.run_id, indices)
        if cached is not None:
            return cached, None
    fit_predict = _trial_fit_predict(ctx, dict(ref.params), X, y)
    probs, folds = crossfit(y.numpy(), fit_predict)
    result = OutOfSample(
        indices=indices,
        probs=probs,
        folds=folds,
        method=f"cross-fitting the trial's configuration ({FOLDS}-fold × {REPEATS} repeats on "
        "train + dev, seeded; computed for this report)",
    )
    note = None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(ARTIFACT).name
        np.savez_compressed(path, indices=indices, probs=probs, folds=folds)
        try:
            client.log_artifact(ref.run_id, str(path), artifact_path=str(Path(ARTIFACT).parent))
        except Exception as exc:  # noqa: BLE001 - the report still works; the next one re-fits
            note = f"could not cache the out-of-sample probabilities ({type(exc).__name__}: {exc})"
    return result, note
