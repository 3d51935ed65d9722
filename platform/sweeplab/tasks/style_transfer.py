"""Neural style transfer: ``J(G) = α J_content(C, G) + β J_style(S, G)`` minimised over G's
pixels, with the activations of a small feature network the sweep trains once on
``data.source``.

A trial has no dev set: its optimizing metric is ``cost_ratio`` = J(G) at the end / J(G) at
the start (scale-free, so trials with different α and β compare), beside ``total_cost``,
``content_cost``, ``style_cost`` and ``initial_cost``; it logs ``style/generated.png``,
``style/content.png`` and ``style/style.png``.
"""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from sweeplab.config.project import ProjectFile
from sweeplab.data import build_splits, load_dataset, load_style_image
from sweeplab.errors import UserError
from sweeplab.tasks._context import SweepContext, TrialSetup, model_for_task, sweep_manifest
from sweeplab.tasks._result import TrialResult
from sweeplab.tasks._spec import Fetch, OnEpoch, Task, register_task
from sweeplab.tasks._tables import ReportTable
from sweeplab.training import EpochResult, StyleArgs, style_transfer, train_feature_net

__all__ = ["StyleTransfer", "png_bytes"]

_STYLE_IMAGES = (
    ("style/content.png", "content C"),
    ("style/style.png", "style S"),
    ("style/generated.png", "generated G"),
)


@register_task
class StyleTransfer(Task):
    name = "style_transfer"
    description = "J(G) = α J_content + β J_style over G's pixels; optimize cost_ratio"
    args: ClassVar = StyleArgs
    metrics = ("style_cost", "content_cost", "total_cost", "initial_cost", "cost_ratio")
    objectives = (
        "cost_ratio",
        "total_cost",
        "style_cost",
        "content_cost",
        "initial_cost",
        "params_count",
        "epoch_time_s",
    )
    objectives_note = "has no dev set (cost_ratio = J(G) at the end / at the start)"
    headline = ("cost_ratio", "initial_cost", "total_cost", "content_cost", "style_cost")
    summary_metric = "cost_ratio"
    data_fields = ("style_images",)
    searchable = False
    dev_set = False
    final_dev_metric = None

    def check_project(self, pf: ProjectFile) -> None:
        if pf.project.data.style_images is None:
            raise pf.error(
                "task 'style_transfer' needs data.style_images: {content: skimage:astronaut, "
                "style: skimage:coffee, size: 32} (the source trains the feature network)",
                "data",
            )

    def prepare(
        self, pf: ProjectFile, *, manifest_path: Path | None, tracking_uri: str | None
    ) -> tuple[SweepContext, Any, Any]:
        """Train the feature network once on the source's train split; load both images."""
        project = pf.project
        spec = model_for_task(pf, self.name)
        data = project.data
        dataset = load_dataset(data, base_dir=pf.base_dir)
        if dataset.image_shape is None and dataset.X.ndim != 4:
            raise UserError(
                f"the style feature network trains on images, but {data.source} is a table",
                key="data.source",
            )
        manifest = sweep_manifest(pf, dataset, manifest_path, build_splits)
        images = torch.from_numpy(dataset.as_images().copy())
        labels = torch.from_numpy(dataset.y)
        tr, dv = manifest.splits["train"], manifest.splits.get("dev")
        cfg = project.train
        args = spec.args(**project.model.args)
        net, train_acc = train_feature_net(
            images[tr],
            labels[tr],
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            learning_rate=cfg.learning_rate,
            filters=args.filters,
            seed=cfg.seed,
        )
        dev_acc = float("nan")
        if dv is not None and len(dv):
            with torch.no_grad():
                dev_acc = float((net(images[dv]).argmax(1) == labels[dv]).float().mean())
        si = data.style_images
        pics = {
            name: load_style_image(
                getattr(si, name),
                size=si.size,
                base_dir=pf.base_dir,
                key=f"data.style_images.{name}",
            )
            for name in ("content", "style")
        }
        channels = images.shape[1]
        if channels == 1:  # a grey feature network: grey content and style
            pics = {k: v.mean(0, keepdim=True) for k, v in pics.items()}
        elif channels != 3:
            raise UserError(
                f"the feature network needs 1 or 3 channels, but {data.source} has {channels}",
                key="data.source",
            )
        ctx = SweepContext.of(
            pf,
            task=self.name,
            model=spec,
            searchable=False,  # the feature network and its training run once per sweep
            args_schema=StyleArgs,
            task_data={
                "net": net,
                "content": pics["content"],
                "style": pics["style"],
                "feature_train_accuracy": train_acc,
                "feature_dev_accuracy": dev_acc,
            },
        )
        return ctx, dataset, manifest

    def run(self, ctx: SweepContext, setup: TrialSetup, on_epoch: OnEpoch) -> TrialResult:
        data = ctx.task_data
        cfg, args = setup.cfg, setup.args
        net, content, style = data["net"], data["content"], data["style"]
        # Reports: ~20 "epochs" of steps each, so a pruner can stop a trial that stalls.
        every = max(1, args.steps // 20)
        history: list[dict[str, float]] = []
        state: dict[str, Any] = {"j0": None, "t": time.perf_counter()}

        def on_step(step: int, j: float) -> None:
            if step == 0:
                state["j0"] = j
                return
            if step % every and step != args.steps:
                return
            now = time.perf_counter()
            m = {
                "epoch": float(len(history) + 1),
                "step": float(step),
                "total_cost": j,
                "cost_ratio": j / state["j0"] if state["j0"] else float("nan"),
                "epoch_time_s": now - state["t"],
            }
            state["t"] = now
            history.append(m)
            if on_epoch is not None:
                on_epoch(EpochResult(epoch=len(history), metrics=dict(m)))

        res = style_transfer(net, content, style, args, seed=cfg.seed, on_step=on_step)
        j0, jc0, js0 = res.history[0]
        j1, jc1, js1 = res.history[-1]
        metrics = {
            "total_cost": j1,
            "content_cost": jc1,
            "style_cost": js1,
            "initial_cost": j0,
            "cost_ratio": j1 / j0 if j0 else float("nan"),
            "params_count": float(sum(p.numel() for p in net.parameters())),
            "style_seconds": res.seconds,
            "feature_train_accuracy": data["feature_train_accuracy"],
            "feature_dev_accuracy": data["feature_dev_accuracy"],
            "epochs_run": float(len(history)),
        }
        return TrialResult(
            metrics=metrics,
            history=history,
            device="cpu",
            model=net,
            artifacts={
                "style/generated.png": png_bytes(res.image),
                "style/content.png": png_bytes(content),
                "style/style.png": png_bytes(style),
            },
        )

    def report_tables(
        self, metrics: dict[str, float], fetch: Fetch, pf: ProjectFile, sweep_dir: Path
    ) -> tuple[list[ReportTable], list[tuple[str, str]], list[str]]:
        images, notes = [], []
        for path, caption in _STYLE_IMAGES:
            data = fetch(path)
            if data is None:
                notes.append(f"the trial logged no {path}")
                continue
            uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            images.append((caption, uri))
        return [], images, notes


def png_bytes(image: torch.Tensor) -> bytes:
    """A ``(C, H, W)`` tensor in [0, 1] (C = 1 or 3) as PNG bytes."""
    arr = (image.detach().cpu().clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    pic = Image.fromarray(arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0))
    buf = io.BytesIO()
    pic.save(buf, format="PNG")
    return buf.getvalue()
