"""What the tasks that train on generated scenes share (localization, landmarks,
detection, segmentation, verification): the data made once per sweep and split by the
manifest, the training-loop settings they support, and the error-analysis table each trial
logs as ``analysis/<table>.json`` and its report reads back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from torch import nn

from sweeplab.analysis import spreadsheet_csv
from sweeplab.config.project import ProjectFile
from sweeplab.data import build_splits, load_task_data, split_task_data
from sweeplab.errors import UserError
from sweeplab.models import build_model
from sweeplab.tasks._context import (
    SweepContext,
    TrialSetup,
    model_for_task,
    start_from_checkpoint,
    sweep_init_state,
    sweep_manifest,
)
from sweeplab.tasks._result import TrialResult, network_result
from sweeplab.tasks._spec import Fetch, Task
from sweeplab.tasks._tables import ReportTable
from sweeplab.training import TaskResult, TrainConfig, check_task_config

__all__ = ["GeneratedTask", "table_artifacts"]


class GeneratedTask(Task):
    """A task trained by its own loop (``training/_tasks``) on a ``generated:`` source."""

    train_dev: ClassVar[bool] = False
    #: The error-analysis table a trial logs (``analysis/<table>.csv`` and ``.json``).
    table: ClassVar[str]
    #: The split the split sizes count (verification: identities).
    split_by: ClassVar[Any] = staticmethod(build_splits)

    def check_train(self, cfg: TrainConfig) -> None:
        check_task_config(cfg, task=self.name)

    def prepare(
        self, pf: ProjectFile, *, manifest_path: Path | None, tracking_uri: str | None
    ) -> tuple[SweepContext, Any, Any]:
        """The generated data and its splits; the split manifest is reused on ``--resume``."""
        project = pf.project
        spec = model_for_task(pf, self.name)
        data = project.data
        loaded = load_task_data(data.source, data.generate, seed=data.seed)
        manifest = sweep_manifest(pf, loaded.dataset, manifest_path, self.split_by)
        sets = split_task_data(loaded.full, manifest)
        if "dev" not in sets or "train" not in sets:
            raise UserError(
                f"the {self.name} sweep needs a train and a dev split", key="data.splits"
            )
        self.check_splits(sets)
        init_state = sweep_init_state(pf, tracking_uri)
        ctx = SweepContext.of(pf, task=self.name, model=spec, args_schema=self.args, task_data=sets)
        ctx.init_state, ctx.tracking_uri = init_state, tracking_uri
        return ctx, loaded.dataset, manifest

    def check_splits(self, sets: dict[str, Any]) -> None:
        """Task-specific checks of the split sets."""

    def num_outputs(self, train: Any) -> int:
        """The network's ``num_outputs`` for the train split (classes, points …)."""
        raise NotImplementedError

    def start_model(self, ctx: SweepContext, setup: TrialSetup) -> nn.Module:
        """The trial's network: built, then started from ``train.init_from`` where it is set
        (the checkpoint's weights but a fresh output layer, frozen as ``transfer`` says)."""
        model = self.build_model(ctx, setup)
        if setup.cfg.init_from is not None:
            start_from_checkpoint(ctx, model, setup.cfg)
        return model

    def build_model(self, ctx: SweepContext, setup: TrialSetup) -> nn.Module:
        train = ctx.task_data["train"]
        return build_model(
            ctx.model_name,
            setup.model_args,
            input_shape=tuple(train.images.shape[1:]),  # (C, H, W)
            num_outputs=self.num_outputs(train),
        )

    def result(
        self,
        ctx: SweepContext,
        model: nn.Module,
        trained: TaskResult,
        table: pd.DataFrame,
        extra: dict[str, float],
    ) -> TrialResult:
        """A trained network's trial result, with its error-analysis table as artifacts."""
        extra = {**extra, "epochs_run": float(len(trained.history))}
        dev = ctx.task_data["dev"]
        result = network_result(
            ctx, model, trained.final, trained.history, dev_inputs=dev.images, extra=extra
        )
        result.artifacts = table_artifacts(self.table, table)
        return result

    def report_tables(
        self, metrics: dict[str, float], fetch: Fetch, pf: ProjectFile, sweep_dir: Path
    ) -> tuple[list[ReportTable], list[tuple[str, str]], list[str]]:
        path = f"analysis/{self.table}.json"
        data = fetch(path)
        if data is None:
            return (
                [],
                [],
                [
                    f"the trial logged no {path} (the artifact store did not answer when it "
                    "finished?): the error-analysis table is missing"
                ],
            )
        return self.tables_from(json.loads(data), metrics), [], []

    def tables_from(self, logged: Any, metrics: dict[str, float]) -> list[ReportTable]:
        """The report's tables from the logged ``analysis/<table>.json``."""
        return self.frame_tables(pd.DataFrame(logged))

    def frame_tables(self, frame: pd.DataFrame) -> list[ReportTable]:
        raise NotImplementedError


def table_artifacts(name: str, table: pd.DataFrame) -> dict[str, bytes]:
    """``analysis/<name>.csv`` and ``.json`` of a trial's error-analysis table."""
    return {
        f"analysis/{name}.csv": spreadsheet_csv(table).encode(),  # the .json keeps raw values
        f"analysis/{name}.json": table.to_json(orient="records", indent=1).encode(),
    }
