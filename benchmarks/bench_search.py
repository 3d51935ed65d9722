"""Target 5: search efficiency on the digits MLP, over several sampler seeds, with spread.

In-process sweeps (``run_sweep(SweepSettings(...))``, Optuna backend, one workspace):

* ``scale``: only α varies (Adam, fixed width/depth), drawn from [1e-4, 1] on a log scale
  versus uniformly; trials until the best dev error reaches ``target_dev_error``.
* ``sampler``: the whole ``search_spaces/mlp.yaml`` space, random versus TPE (TPE's first
  10 trials are random: ``n_startup_trials=10``); trials to target and best dev error.
* ``pruning``: the whole space, random sampler, 30 trials of up to 12 epochs, the same seeds
  (so the same trials) with ``--pruner median`` (Optuna's MedianPruner, 5 startup trials,
  2 warm-up epochs), with ``--pruner successive_halving`` (Optuna's SuccessiveHalvingPruner,
  which is asynchronous successive halving, i.e. ASHA, as Ray's ``--scheduler asha``), with
  ``--pruner hyperband`` (both with the default ``--grace-period 3 --reduction-factor 3``:
  rungs at 3 and 9 epochs) and with none; total epochs trained (counted at every epoch of
  every trial, pruned ones included) and best dev error — target ≥ 2× fewer epochs at a best
  dev error within ±0.5 points. The median pruner never stops its 5 start-up trials, so the
  ratio grows with the sweep's length (at most ≈ 2.06× with 16 trials of 12 epochs, ≈ 3.5×
  with 30). The dev set has 180 examples: one example is 0.56 points, so "within ±0.5
  points" means the same number of dev errors or fewer.

"Trials to target" is the 1-based index of the first trial with dev error ≤ the target, or
null when none of the sweep's trials reached it (then ``reached`` says how many seeds did).
"""

from __future__ import annotations

import time
from pathlib import Path

from _common import SPACES, cli_args, emit, log, median, spread, temp_dir, write_project

MLP = {"name": "mlp", "activation": "relu", "init": "he"}
# Successive halving / Hyperband rungs (the CLI defaults of --grace-period and
# --reduction-factor). Measured on the pruning setup below (4 seeds): a grace period of 1 or
# 2 epochs lost 0.56-1.11 points of best dev error on some seed (it stopped the eventual best
# trial at an early rung); 3 kept it on every seed. Factor 4 saved no more epochs than 3.
ASHA_GRACE, ASHA_FACTOR = 3, 3
RUNG_PRUNERS = ("successive_halving", "hyperband")


class _EpochCounter:
    """Counts the epochs trained in this process (every ``fit`` epoch, pruned trials too)."""

    def __init__(self) -> None:
        import sweeplab.training

        self.epochs = 0
        orig = sweeplab.training.fit

        def fit(model, data, cfg, *, task, on_epoch=None):
            def counted(result):
                self.epochs += 1
                if on_epoch is not None:
                    on_epoch(result)

            return orig(model, data, cfg, task=task, on_epoch=counted)

        sweeplab.training.fit = fit


def _sweep(project: Path, ws: Path, name: str, counter: _EpochCounter, **settings) -> dict:
    from sweeplab.tuning import SweepSettings, run_sweep

    before = counter.epochs
    t0 = time.perf_counter()
    out = run_sweep(SweepSettings(project_path=project, workspace=ws, name=name, **settings))
    devs = [t.metrics.get("dev_error") if t.status == "finished" else None for t in out.trials]
    return {
        "dev_errors": devs,
        "statuses": [t.status for t in out.trials],
        "epochs": counter.epochs - before,
        "best_dev_error": min((d for d in devs if d is not None), default=None),
        "wall_s": round(time.perf_counter() - t0, 2),
    }


def _trials_to(devs: list[float | None], target: float) -> int | None:
    for i, d in enumerate(devs, 1):
        if d is not None and d <= target:
            return i
    return None


def _summary(runs: list[dict], target: float) -> dict:
    hits = [_trials_to(r["dev_errors"], target) for r in runs]
    reached = [h for h in hits if h is not None]
    bests = [r["best_dev_error"] for r in runs if r["best_dev_error"] is not None]
    return {
        "trials_to_target_per_seed": hits,
        "reached": f"{len(reached)}/{len(runs)}",
        "trials_to_target_median_of_reached": median(reached) if reached else None,
        "best_dev_error": spread(bests) if bests else None,
        "epochs": spread([r["epochs"] for r in runs]),
    }


def main() -> None:
    args = cli_args(__doc__.splitlines()[0])
    started = time.perf_counter()
    q = args.quick
    seeds = list(range(2 if q else 4))
    result: dict = {"what": __doc__.split("\n\n", 1)[1].strip(), "seeds": seeds}
    counter = _EpochCounter()
    with temp_dir("search") as folder:
        ws = folder / "ws"

        # -- scale of α: log vs uniform -------------------------------------------------
        target, trials, epochs = 0.03, (6 if q else 10), 5
        model = {**MLP, "hidden_units": 64, "num_layers": 1}
        runs = {}
        for scale in ("log_uniform", "uniform"):
            space = {"learning_rate": {"distribution": scale, "min": 1.0e-4, "max": 1.0}}
            project = write_project(
                folder, name=f"scale-{scale}", model=model, train={"epochs": epochs}, space=space
            )
            runs[scale] = [
                _sweep(project, ws, f"scale-{scale}-{s}", counter, trials=trials, seed=s)
                for s in seeds
            ]
            log(f"scale {scale}: {[r['best_dev_error'] for r in runs[scale]]}")
        result["scale"] = {
            "space": "learning_rate in [1e-4, 1]; adam; mlp 64x1",
            "trials": trials,
            "epochs_per_trial": epochs,
            "target_dev_error": target,
            **{k: _summary(v, target) for k, v in runs.items()},
        }

        # -- sampler: random vs TPE on the whole MLP space --------------------------------
        target, trials, epochs = 0.025, (12 if q else 20), 5
        space_file = SPACES / "mlp.yaml"
        runs = {}
        for sampler in ("random", "tpe"):
            project = write_project(
                folder, name=f"sampler-{sampler}", model=MLP, train={"epochs": epochs}
            )
            runs[sampler] = [
                _sweep(
                    project,
                    ws,
                    f"sampler-{sampler}-{s}",
                    counter,
                    space_path=space_file,
                    trials=trials,
                    sampler=sampler,
                    seed=s,
                )
                for s in seeds
            ]
            log(f"sampler {sampler}: {[r['best_dev_error'] for r in runs[sampler]]}")
        result["sampler"] = {
            "space": "search_spaces/mlp.yaml",
            "trials": trials,
            "epochs_per_trial": epochs,
            "target_dev_error": target,
            **{k: _summary(v, target) for k, v in runs.items()},
            "best_so_far_median": {
                k: [
                    median(
                        [
                            min(d for d in r["dev_errors"][: i + 1] if d is not None)
                            for r in v
                            if any(d is not None for d in r["dev_errors"][: i + 1])
                        ]
                    )
                    for i in range(trials)
                ]
                for k, v in runs.items()
            },
        }

        # -- early stopping of poor trials: median pruning vs none -------------------------
        trials, epochs = (12 if q else 30), (10 if q else 12)
        runs = {}
        project = write_project(folder, name="pruning", model=MLP, train={"epochs": epochs})
        for pruner in ("none", "median", *RUNG_PRUNERS):
            rungs = (
                {"grace_period": ASHA_GRACE, "reduction_factor": ASHA_FACTOR}
                if pruner in RUNG_PRUNERS
                else {}
            )
            runs[pruner] = [
                _sweep(
                    project,
                    ws,
                    f"pruning-{pruner}-{s}",
                    counter,
                    space_path=space_file,
                    trials=trials,
                    pruner=pruner,
                    seed=s,
                    **rungs,
                )
                for s in seeds
            ]
            log(f"pruner {pruner}: epochs {[r['epochs'] for r in runs[pruner]]}")

        def versus(pruner: str) -> dict:
            pairs = list(zip(runs["none"], runs[pruner], strict=True))
            ratio = [a["epochs"] / b["epochs"] for a, b in pairs]
            gap = [100 * (b["best_dev_error"] - a["best_dev_error"]) for a, b in pairs]
            return {
                "pruned_trials_per_seed": [r["statuses"].count("pruned") for r in runs[pruner]],
                "epochs_per_seed": [r["epochs"] for r in runs[pruner]],
                "epochs_ratio_none_over_pruned": spread(ratio),
                "epochs_ratio_per_seed": [round(x, 3) for x in ratio],
                "best_dev_error_gap_points_pruned_minus_none": spread(gap),
                "best_dev_error_gap_points_per_seed": [round(g, 2) for g in gap],
                # every seed within ±0.5 points, not only the median one
                "met": median(ratio) >= 2.0 and max(abs(g) for g in gap) <= 0.5,
            }

        med, sha, hb = versus("median"), versus("successive_halving"), versus("hyperband")
        for pruner, v in (("median", med), ("successive_halving", sha), ("hyperband", hb)):
            log(
                f"pruner {pruner}: epochs ratio {v['epochs_ratio_per_seed']}, best dev gap "
                f"{v['best_dev_error_gap_points_per_seed']} points, met {v['met']}"
            )
        result["pruning"] = {
            "space": "search_spaces/mlp.yaml, random sampler",
            "trials": trials,
            "max_epochs_per_trial": epochs,
            "none": _summary(runs["none"], 0.0),
            "median": _summary(runs["median"], 0.0),
            "successive_halving": _summary(runs["successive_halving"], 0.0),
            "hyperband": _summary(runs["hyperband"], 0.0),
            "median_vs_none": med,
            "asha_vs_none": sha,
            "hyperband_vs_none": hb,
            # kept for run_all's summary and older readers
            "pruned_trials_per_seed": med["pruned_trials_per_seed"],
            "epochs_ratio_none_over_median": med["epochs_ratio_none_over_pruned"],
            "best_dev_error_gap_points_median_minus_none": med[
                "best_dev_error_gap_points_pruned_minus_none"
            ],
            "target": ">= 2x fewer epochs at equal best dev error (+-0.5 points on every seed)",
            "met": med["met"],
            "asha_met": sha["met"],
            "asha": "Optuna's SuccessiveHalvingPruner (asynchronous successive halving = ASHA) "
            f"with --grace-period {ASHA_GRACE} --reduction-factor {ASHA_FACTOR} "
            f"(min_resource={ASHA_GRACE}, reduction_factor={ASHA_FACTOR}: no trial stops "
            f"before epoch {ASHA_GRACE}, rungs at {ASHA_GRACE} x {ASHA_FACTOR}^k epochs): "
            "asha_vs_none",
            "hyperband_arm": "Optuna's HyperbandPruner (brackets of successive halving) with "
            f"--grace-period {ASHA_GRACE} --reduction-factor {ASHA_FACTOR} (min_resource="
            f"{ASHA_GRACE}, max_resource={epochs} = a trial's epochs, reduction_factor="
            f"{ASHA_FACTOR}): hyperband_vs_none",
        }
    emit("search_efficiency", result, started=started)


if __name__ == "__main__":
    main()
