"""Sliding windows: the convolutional pass against cropping every window (a Python loop, and
one batch of crops), on the same windows of the same images, with the same outputs.

The notes' window classifier (14×14×3 windows, conv 5×5×16, pool, fc 400 → 400 → 4 as
convolutions) on 28×28×3 images: 64 windows per image at a stride of 2. Figures: the wall
and CPU time per image of each way (median of interleaved repeats), the speed ratios, and the
largest difference between the outputs (they must agree to float32 rounding).
"""

from __future__ import annotations

import time

import torch

from _common import cli_args, emit, interleaved, log, spread
from sweeplab.models import build_model
from sweeplab.models._sliding import batched_windows, naive_windows


def main() -> None:
    started = time.perf_counter()
    args = cli_args(__doc__.splitlines()[0])
    repeats = 3 if args.quick else 10
    torch.manual_seed(0)
    model = build_model("window_classifier", {}, input_shape=(3, 14, 14), num_outputs=4).eval()
    images = torch.rand(8, 3, 28, 28, generator=torch.Generator().manual_seed(0))

    def conv() -> torch.Tensor:
        return model.score_map(images)

    def crops_batch() -> torch.Tensor:
        return torch.stack([batched_windows(model, im) for im in images])

    def crops_loop() -> torch.Tensor:
        return torch.stack([naive_windows(model, im) for im in images])

    with torch.no_grad():
        ref = crops_loop()
        diff = {
            "conv_vs_loop": float((conv() - ref).abs().max()),
            "batch_vs_loop": float((crops_batch() - ref).abs().max()),
        }
        log("outputs agree to", diff)
        ways = {"conv": conv, "crops_batch": crops_batch, "crops_loop": crops_loop}
        # interleaved() times a call that returns None (a tuple would be its own timing)
        wall, cpu = interleaved({k: _discard(f) for k, f in ways.items()}, repeats=repeats)
    per_image = {k: spread([t / len(images) * 1e3 for t in v]) for k, v in wall.items()}
    med = {k: v["median"] for k, v in per_image.items()}
    emit(
        "sliding_windows",
        {
            "images": len(images),
            "image": "3x28x28",
            "window": "3x14x14",
            "windows_per_image": 64,
            "max_abs_difference": diff,
            "wall_ms_per_image": per_image,
            "cpu_ms_per_image": {
                k: spread([t / len(images) * 1e3 for t in v]) for k, v in cpu.items()
            },
            "speedup_conv_vs_crops_batch": med["crops_batch"] / med["conv"],
            "speedup_conv_vs_crops_loop": med["crops_loop"] / med["conv"],
        },
        started=started,
    )


def _discard(fn):  # noqa: ANN001, ANN202
    def run() -> None:
        fn()

    return run


if __name__ == "__main__":
    main()
