"""Face verification and one-shot recognition: a Siamese encoder trained with the triplet
loss (with mining) or a binary head on ``|f(x_i) − f(x_j)|``, on generated identities.

Splits count **identities**: dev and test identities are never seen in training.
``dev_error`` = 1 − ``dev_verification_accuracy`` of balanced dev pairs at the threshold τ
chosen on dev; ``one_shot_accuracy`` recognises dev queries against one reference per
identity, with a share of distractor identities whose answer is "not recognized".
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field
from torch import nn

from sweeplab.analysis import verification_confusion
from sweeplab.data import identity_splits
from sweeplab.errors import UserError
from sweeplab.models import PairClassifier, build_model
from sweeplab.tasks._context import SweepContext, TrialSetup
from sweeplab.tasks._generated import GeneratedTask
from sweeplab.tasks._result import TrialResult, network_result
from sweeplab.tasks._spec import OnEpoch, register_task
from sweeplab.tasks._tables import ReportTable, num, pct, report_table
from sweeplab.training import (
    SiameseArgs,
    dissimilarities,
    embed,
    evaluate_verification,
    train_siamese,
    verification_pairs,
)

__all__ = ["Verification", "VerificationArgs"]


class VerificationArgs(SiameseArgs):
    """Triplet loss with mining, or the binary head on ``|f(x_i) − f(x_j)|``."""

    head: Literal["triplet", "binary"] = Field(
        default="triplet",
        description="triplet: the triplet loss with margin α; binary: logistic regression on the pair.",
    )
    one_shot_distractors: float = Field(
        default=0.25,
        ge=0.0,
        lt=1.0,
        description="Share of dev identities kept out of the one-shot database (answer: not recognized).",
    )


def _one_shot_sets(split: Any, share: float) -> tuple[Any, Any]:
    """(database, distractors) of a split's identities: the first share keep one reference
    each; the rest are distractors whose answer is "not recognized"."""
    ids = np.unique(split.labels.numpy())
    n_distract = min(int(round(len(ids) * share)), len(ids) - 2)
    database = split.subset(ids[: len(ids) - n_distract])
    distractors = split.subset(ids[len(ids) - n_distract :]) if n_distract > 0 else None
    return database, distractors


@register_task
class Verification(GeneratedTask):
    name = "verification"
    description = "same person or not: Siamese encoder, triplet loss or binary head; one-shot"
    args: ClassVar = VerificationArgs
    metrics = (
        "dev_verification_accuracy",
        "dev_false_accept_rate",
        "dev_false_reject_rate",
        "one_shot_accuracy",
        "tau",
        "test_verification_accuracy",
        "test_one_shot_accuracy",
    )
    headline = ("dev_verification_accuracy", "one_shot_accuracy", "tau")
    summary_metric = "dev_verification_accuracy"
    error_measure = "1 − verification accuracy of balanced pairs at the best τ of the set"
    source = "identities"
    table = "verification_confusion"
    final_dev_metric = "dev_verification_accuracy"
    split_by = staticmethod(identity_splits)

    def check_splits(self, sets: dict[str, Any]) -> None:
        for name, s in sets.items():
            if len(s.labels.unique()) < 2:
                raise UserError(
                    f"split {name!r} has {len(s.labels.unique())} identity; verification needs "
                    "at least 2 per split (more identities, or larger split sizes)",
                    key="data.splits",
                )

    def build_model(self, ctx: SweepContext, setup: TrialSetup) -> nn.Module:
        shape = tuple(ctx.task_data["train"].images.shape[1:])
        encoder = build_model(ctx.model_name, setup.model_args, input_shape=shape, num_outputs=0)
        return PairClassifier(encoder) if setup.args.head == "binary" else encoder

    def run(self, ctx: SweepContext, setup: TrialSetup, on_epoch: OnEpoch) -> TrialResult:
        train, dev = ctx.task_data["train"], ctx.task_data["dev"]
        cfg, args = setup.cfg, setup.args
        model = self.start_model(ctx, setup)
        encoder = model.encoder if isinstance(model, PairClassifier) else model
        siamese = SiameseArgs(**args.model_dump(include=set(SiameseArgs.model_fields)))
        res = train_siamese(model, train, cfg, dev=dev, args=siamese, on_epoch=on_epoch)
        # One-shot on dev identities (never seen in training).
        database, distractors = _one_shot_sets(dev, args.one_shot_distractors)
        report = evaluate_verification(model, dev, database, distractors=distractors, seed=cfg.seed)
        e = embed(encoder, dev.images)
        i, j, same = verification_pairs(dev.labels, seed=cfg.seed)
        d = dissimilarities(model, e, e).cpu().numpy()[i, j]
        confusion = verification_confusion(d, same, report.tau)
        extra = {
            "dev_error": 1.0 - report.dev_accuracy,
            "dev_verification_accuracy": report.dev_accuracy,
            "one_shot_accuracy": report.one_shot_accuracy,
            "tau": report.tau,
            "dev_false_accept_rate": confusion["false_accept_rate"],
            "dev_false_reject_rate": confusion["false_reject_rate"],
            "epochs_run": float(len(res.history)),
        }
        result = network_result(
            ctx, encoder, res.final, res.history, dev_inputs=dev.images, extra=extra
        )
        result.model = model
        confusion.update(tau=report.tau, one_shot_queries=report.one_shot_queries)
        result.artifacts = {f"analysis/{self.table}.json": json.dumps(confusion, indent=1).encode()}
        return result

    def tables_from(self, logged: Any, metrics: dict[str, float]) -> list[ReportTable]:
        conf = {"tau": metrics.get("tau", float("nan")), **logged}
        same = conf["same_called_same"] + conf["same_called_different"]
        diff = conf["different_called_same"] + conf["different_called_different"]
        frame = pd.DataFrame(
            {
                "pairs": ["same identity", "different identities"],
                "count": [same, diff],
                "called_same": [conf["same_called_same"], conf["different_called_same"]],
                "called_different": [
                    conf["same_called_different"],
                    conf["different_called_different"],
                ],
                "error_rate": [conf["false_reject_rate"], conf["false_accept_rate"]],
            }
        )
        frame["errors"] = [conf["same_called_different"], conf["different_called_same"]]
        total = int(frame["errors"].sum())
        frame["pct_of_errors"] = frame["errors"] / total if total else 0.0
        return [
            report_table(
                "verification-confusion",
                f"Same / different at τ = {conf['tau']:.4g} (dev pairs)",
                "τ was chosen on these dev pairs (balanced: chance is 50%). False rejects are "
                "same-identity pairs called different; false accepts the other way round. "
                f"One-shot recognition ran on {conf.get('one_shot_queries', '?')} dev queries.",
                frame,
                {
                    "pairs": str,
                    "count": num,
                    "called_same": num,
                    "called_different": num,
                    "errors": num,
                    "error_rate": pct,
                    "pct_of_errors": pct,
                },
            )
        ]

    def final_scores(
        self, ctx: SweepContext, model: nn.Module, setup: TrialSetup
    ) -> tuple[dict[str, float], float]:
        dev, test = ctx.task_data["dev"], ctx.task_data["test"]
        seed = setup.cfg.seed
        # Verification on every test pair at the τ chosen on dev (as the trial chose it) …
        pairs = evaluate_verification(model, dev, test, seed=seed)
        # … and one-shot recognition with the trial's share of distractor identities.
        database, distractors = _one_shot_sets(test, setup.args.one_shot_distractors)
        shot = evaluate_verification(model, dev, database, distractors=distractors, seed=seed)
        out = {
            "test_verification_accuracy": pairs.test_accuracy,
            "test_one_shot_accuracy": shot.one_shot_accuracy,
            "test_error": 1.0 - pairs.test_accuracy,
            "test_tau": pairs.tau,
        }
        return out, pairs.dev_accuracy
