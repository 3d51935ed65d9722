"""The cost per trial of what a sweep keeps in MLflow beside metrics: models and dataset inputs.

On the sweep's default store (SQLite in a workspace folder), with the sweep's real setup
(``setup_sweep`` + ``prepare_tracking``), a trained digits MLP (64→128→128→10) and a child
run per trial as the Optuna backend makes it (``TrialRecorder.start``, one epoch of metrics),
the end of the trial, ``record_trial(FINISHED)``, is timed in four arms, interleaved:

* ``none``: ``log_models: none`` — the baseline;
* ``best_not_better``: ``log_models: best``, a trial that does not beat the best so far (most
  trials of a sweep): nothing more is written;
* ``best_improves``: ``log_models: best``, a trial that beats the best so far: its CPU
  ``state_dict`` is logged (``weights/state_dict.pt``; in a random sweep of N trials about
  H_N = 1 + 1/2 + … + 1/N of them, ~4 of 30);
* ``all``: ``log_models: all`` — the weights and an MLflow model (``mlflow.pytorch.log_model``).

Also: the copy of the trained weights to the CPU that ``run_trial`` makes for ``best`` and
``all`` (``weights_copy_ms``), the dataset inputs of a run (``track_trial``: one
``log_inputs`` call with the four splits), and, once per sweep, the best trial's MLflow model
(``log_best_model``, not a per-trial cost). Target: ``best`` within 50 ms per trial (worst
case: every trial improves).
"""

from __future__ import annotations

import math
import time

from _common import cli_args, emit, interleaved, log, median, spread, temp_dir, write_project

MODEL = {"name": "mlp", "activation": "relu", "init": "he", "hidden_units": 128, "num_layers": 2}
SPACE = {"learning_rate": {"value": 0.001}}
PARAMS = {"learning_rate": 0.001}


def main() -> None:
    started = time.perf_counter()
    args = cli_args(__doc__.splitlines()[0])
    repeats = 6 if args.quick else 20
    with temp_dir("models") as folder:
        result = measure(folder, repeats=repeats)
    emit("models", result, started=started)


def measure(folder, *, repeats: int) -> dict:
    from sweeplab.tasks import TASKS, run_trial, trial_setup
    from sweeplab.tuning import SweepSettings, setup_sweep
    from sweeplab.tuning._lifecycle import TrialStatus, record_trial
    from sweeplab.tuning._record import TrialRecorder
    from sweeplab.tuning._tracking import log_best_model, prepare_tracking, track_trial

    project = write_project(folder, model=MODEL, space=SPACE, train={"epochs": 2})
    settings = SweepSettings(project_path=project, workspace=folder / "ws", name="models")
    setup = setup_sweep(settings)
    tracking = prepare_tracking(setup)
    ctx = setup.context
    tracking.log_models = "all"
    trained = run_trial(ctx, PARAMS)  # keeps the CPU weights and the model
    model = TASKS.get(ctx.task).build_model(ctx, trial_setup(ctx, PARAMS))
    numbers = iter(range(10**6))
    dataset_s: list[float] = []
    dataset_cpu_s: list[float] = []

    def trial(log_models: str, best: float | None):
        def arm() -> tuple[float, float]:
            tracking.log_models, tracking.best = log_models, best
            recorder = TrialRecorder.start(
                setup.sweep_run, number=next(numbers), params=PARAMS, fixed={}
            )
            t0, c0 = time.perf_counter(), time.process_time()
            track_trial(recorder, ctx)
            dataset_s.append(time.perf_counter() - t0)
            dataset_cpu_s.append(time.process_time() - c0)
            recorder.epoch(1, {"train_loss": 1.0, "dev_error": trained.metrics["dev_error"]})
            t0, c0 = time.perf_counter(), time.process_time()
            record_trial(recorder, TrialStatus.FINISHED, result=trained)
            return time.perf_counter() - t0, time.process_time() - c0

        return arm

    log(f"{repeats} rounds of 4 arms")
    wall, cpu = interleaved(
        {
            "none": trial("none", None),
            "best_not_better": trial("best", -math.inf),
            "best_improves": trial("best", None),
            "all": trial("all", None),
        },
        repeats=repeats,
    )
    copies = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        {k: v.detach().cpu() for k, v in model.state_dict().items()}
        copies.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    tracking.log_models = "best"
    best_run = setup.sweep_run.client.search_runs(
        [setup.sweep_run.experiment_id],
        filter_string="tags.`sweeplab.kind` = 'trial'",
        max_results=1,
    )[0]
    uri = log_best_model(setup, best_run.info.run_id, PARAMS)
    final_s = time.perf_counter() - t0
    assert uri is not None

    ms = {k: 1000 * median(v) for k, v in wall.items()}
    copy_ms = 1000 * median(copies)
    extra = {k: ms[k] - ms["none"] for k in ms if k != "none"}
    return {
        "trial_end_ms": {k: spread([1000 * x for x in v]) for k, v in wall.items()},
        "trial_end_cpu_ms": {k: 1000 * median(v) for k, v in cpu.items()},
        "weights_copy_ms": copy_ms,
        "per_trial_overhead_ms": {
            "best_not_better": extra["best_not_better"] + copy_ms,
            "best_improves": extra["best_improves"] + copy_ms,
            "best_sweep_of_30_mean": copy_ms
            + extra["best_not_better"]
            + (extra["best_improves"] - extra["best_not_better"]) * _harmonic(30) / 30,
            "all": extra["all"] + copy_ms,
        },
        "dataset_inputs_ms_per_run": spread([1000 * x for x in dataset_s]),
        "dataset_inputs_cpu_ms_per_run": 1000 * median(dataset_cpu_s),
        "best_model_once_per_sweep_ms": 1000 * final_s,
        "target_best_ms_per_trial": 50.0,
        "met": extra["best_improves"] + copy_ms <= 50.0,
        "params_count": sum(p.numel() for p in model.parameters()),
    }


def _harmonic(n: int) -> float:
    return sum(1.0 / k for k in range(1, n + 1))


if __name__ == "__main__":
    main()
