"""``run_trial``: the one function both backends call to do a trial's work.

The backend asks its sampler for parameters, calls ``run_trial(ctx, params, reporter)`` and
records what comes back. Nothing here knows about Optuna or Ray: pruning reaches us as a
:class:`TrialPruned` raised by the reporter, and we let it through. The trial's task does
the work (``TASKS.get(ctx.task).run``).
"""

from __future__ import annotations

from typing import Any

from sweeplab.tasks._context import SweepContext, trial_setup
from sweeplab.tasks._result import Reporter, TrialResult
from sweeplab.tasks._spec import TASKS
from sweeplab.training import EpochResult, seed_everything

__all__ = ["run_trial"]


def run_trial(
    ctx: SweepContext,
    params: dict[str, Any],
    reporter: Reporter | None = None,
    *,
    keep_model: bool = False,
    device: str | None = None,
) -> TrialResult:
    """Turn ``params`` into the trial's typed settings, seed, and let its task train it."""
    setup = trial_setup(ctx, params, device)
    seed_everything(setup.cfg.seed)
    on_epoch = None
    if reporter is not None:

        def on_epoch(result: EpochResult) -> None:
            reporter.epoch(result.epoch, result.metrics)

    result = TASKS.get(ctx.task).run(ctx, setup, on_epoch)
    result.model_args = setup.model_args
    result.train_args = setup.cfg.model_dump(mode="json")
    if setup.args is not None:
        result.train_args.update(
            {f"task.{k}": v for k, v in setup.args.model_dump(mode="json").items()}
        )
    # the weights go back to the backend for train.save_checkpoint and tracking.log_models
    # (on the CPU: a model of ``all`` is logged from there too)
    tracking = ctx.tracking if TASKS.get(ctx.task).trains_network else None
    keep_weights = setup.cfg.save_checkpoint or (tracking is not None and tracking.keeps_weights)
    if keep_weights and result.model is not None:
        result.state_dict = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
    if not keep_model and not (tracking is not None and tracking.log_models == "all"):
        result.model = None
    return result
