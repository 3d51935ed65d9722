"""Target 2: platform overhead per trial of ``sweeplab sweep`` (Optuna backend, default stores).

A sweep of N trials whose search space is one constant (``learning_rate: {value: 0.001}``),
so every trial trains exactly the same run, goes through ``sweeplab.cli.main(["sweep", …])``
(in this process: interpreter start-up is bench_startup's figure) with the default stores (MLflow
in the workspace's SQLite file, the Optuna study in a journal file). The baseline is the
same N training runs in a plain loop: seed, build the model, ``fit`` (the data prepared once,
as the sweep does in its setup).

* ratio (target ≤ 1.05 for ~2-second trials): wall time of the sweep's trial phase (the whole
  command minus its one-off setup) / the plain loop; the whole command's ratio, one-off setup
  (data, MLflow parent run, study) included, is reported beside it.
* fixed cost per trial (target ≤ 50 ms): the same with 1-epoch trials, two ways —
  (trial phase − plain loop) / N, and, instrumented, (trial phase − Σ time inside ``fit``) / N
  (sampler, storage, tracking, latency measurement, result bookkeeping).
"""

from __future__ import annotations

import time

from _common import (
    calibrate_epochs,
    cli_args,
    emit,
    interleaved,
    load_context,
    log,
    median,
    plain_trial,
    spread,
    stdout_to_stderr,
    temp_dir,
    write_project,
)

MODEL = {"name": "mlp", "activation": "relu", "init": "he", "hidden_units": 128, "num_layers": 2}
SPACE = {"learning_rate": {"value": 0.001}}


class _Probe:
    """Times ``setup_sweep`` and every ``fit`` call of a sweep run in this process."""

    def __init__(self) -> None:
        import sweeplab.training
        import sweeplab.tuning

        self.setup_s = 0.0
        self.fit_s = 0.0
        self.fit_cpu_s = 0.0  # CPU time of the training thread inside fit (not other threads)
        self.fits = 0
        orig_setup, orig_fit = sweeplab.tuning.setup_sweep, sweeplab.training.fit

        def setup(*a, **k):
            t0 = time.perf_counter()
            try:
                return orig_setup(*a, **k)
            finally:
                self.setup_s += time.perf_counter() - t0

        def fit(*a, **k):
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return orig_fit(*a, **k)
            finally:
                self.fit_s += time.perf_counter() - t0
                self.fit_cpu_s += time.thread_time() - c0
                self.fits += 1

        sweeplab.tuning.setup_sweep = setup
        sweeplab.training.fit = fit

    def reset(self) -> None:
        self.setup_s = self.fit_s = self.fit_cpu_s = 0.0
        self.fits = 0


def measure(folder, *, epochs: int, trials: int, repeats: int, label: str) -> dict:
    from sweeplab.cli import main as cli_main

    project = write_project(
        folder / label, name=f"bench-{label}", model=MODEL, train={"epochs": epochs}, space=SPACE
    )
    ctx = load_context(project)
    cfg = ctx.project.train
    workspace = folder / label / "ws"
    probe = _Probe()
    phases: list[dict] = []
    counter = iter(range(10_000))

    def sweep() -> tuple[float, float]:
        probe.reset()
        t0 = time.perf_counter()
        with stdout_to_stderr():
            rc = cli_main(
                [
                    "sweep",
                    str(project),
                    "--trials",
                    str(trials),
                    "--workspace",
                    str(workspace),
                    "--name",
                    f"{label}-{next(counter)}",
                ]
            )
        total = time.perf_counter() - t0
        if rc != 0 or probe.fits != trials:
            raise RuntimeError(f"sweep exited {rc} after {probe.fits} of {trials} trials")
        phases.append(
            {"total": total, "setup": probe.setup_s, "fit": probe.fit_s, "fit_cpu": probe.fit_cpu_s}
        )
        return total, 0.0

    plain_cpu: list[float] = []

    def plain() -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(trials):
            plain_trial(ctx, cfg)
        plain_cpu.append(time.thread_time() - c0)
        return time.perf_counter() - t0, 0.0

    wall, _ = interleaved({"sweep": sweep, "plain": plain}, repeats=repeats)
    phases = phases[1:]  # the warm-up created the MLflow database
    trial_phase = [p["total"] - p["setup"] for p in phases]
    inside_fit = [p["fit"] for p in phases]
    plain_s = wall["plain"]
    plain_cpu = plain_cpu[1:]  # the warm-up round
    per_trial_vs_plain = [(t - p) / trials for t, p in zip(trial_phase, plain_s, strict=True)]
    per_trial_instr = [(t - f) / trials for t, f in zip(trial_phase, inside_fit, strict=True)]
    out = {
        "trials": trials,
        "epochs_per_trial": epochs,
        "plain_trial_s": median(plain_s) / trials,
        "sweep_command_s": spread([p["total"] for p in phases]),
        "sweep_setup_s": spread([p["setup"] for p in phases]),
        "sweep_trial_phase_s": spread(trial_phase),
        "sweep_inside_fit_s": spread(inside_fit),
        "plain_loop_s": spread(plain_s),
        # CPU time of the training thread: inside fit in the sweep vs the whole plain loop
        # (which is almost all fit). A gap in wall time that the CPU times do not show is
        # waiting (other threads holding the GIL, the machine's other load).
        "sweep_inside_fit_thread_cpu_s": spread([p["fit_cpu"] for p in phases]),
        "plain_loop_thread_cpu_s": spread(plain_cpu),
        "ratio_inside_fit_over_plain": round(median(inside_fit) / median(plain_s), 4),
        "ratio_trial_phase_over_plain": round(median(trial_phase) / median(plain_s), 4),
        "ratio_whole_command_over_plain": round(
            median([p["total"] for p in phases]) / median(plain_s), 4
        ),
        "overhead_per_trial_ms_vs_plain": spread([1000 * x for x in per_trial_vs_plain]),
        "overhead_per_trial_ms_instrumented": spread([1000 * x for x in per_trial_instr]),
    }
    log(
        f"{label}: {epochs} epochs x {trials} trials; ratio {out['ratio_trial_phase_over_plain']}, "
        f"overhead {out['overhead_per_trial_ms_instrumented']['median']:.1f} ms/trial"
    )
    return out


def main() -> None:
    args = cli_args(__doc__.splitlines()[0])
    started = time.perf_counter()
    repeats = 2 if args.quick else 3
    with temp_dir("sweep") as folder:
        probe_project = write_project(folder / "probe", name="bench-probe", model=MODEL)
        epochs = calibrate_epochs(load_context(probe_project), 2.0)
        log(f"~2-s trial = {epochs} epochs")
        long = measure(
            folder, epochs=epochs, trials=3 if args.quick else 4, repeats=repeats, label="long"
        )
        tiny = measure(
            folder, epochs=1, trials=10 if args.quick else 20, repeats=repeats, label="tiny"
        )
    fixed = tiny["overhead_per_trial_ms_instrumented"]["median"]
    emit(
        "sweep_overhead",
        {
            "what": __doc__.split("\n\n", 1)[1].strip(),
            "model": MODEL,
            "space": SPACE,
            "two_second_trials": long,
            "one_epoch_trials": tiny,
            "ratio": long["ratio_trial_phase_over_plain"],
            "ratio_target": "<= 1.05",
            "ratio_met": long["ratio_trial_phase_over_plain"] <= 1.05,
            "fixed_cost_per_trial_ms": round(fixed, 1),
            "fixed_cost_per_trial_ms_vs_plain": round(
                tiny["overhead_per_trial_ms_vs_plain"]["median"], 1
            ),
            "fixed_cost_target": "<= 50 ms",
            "fixed_cost_met": fixed <= 50,
        },
        started=started,
    )


if __name__ == "__main__":
    main()
