"""A team's stores: the fixed cost per trial of a sweep on PostgreSQL against the embedded
SQLite store (issue: a team's setup).

The same sweep of short trials (one epoch of a small MLP on digits; the search space is one
constant, so every trial trains the same run) runs in this process through
``sweeplab.cli.main(["sweep", …])`` four ways, interleaved:

* ``sqlite``: the default stores — MLflow in the workspace's SQLite file, the study in a journal;
* ``pg_tracking``: ``--tracking-uri postgresql://…`` (MLflow's SQL store on PostgreSQL, in this
  process, bulk metric writer on), the study in a journal;
* ``pg_both``: the same and ``--study-storage postgresql://…`` (Optuna's RDB storage);
* ``server_pg``: ``--tracking-uri http://…`` of an ``mlflow server`` backed by PostgreSQL, and
  the study on PostgreSQL (the team page's setup).

Fixed cost per trial = (time between consecutive trial-run starts, from MLflow's records)
− (the trial's own training time, its ``epoch_time_s``): sampling, storage, tracking,
bookkeeping. PostgreSQL is a throwaway cluster on 127.0.0.1 (``tests/postgres_cluster.py``;
Debian's ``postgresql`` package), ``fsync`` on as a real server has it.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from _common import (
    cli_args,
    emit,
    log,
    spread,
    stdout_to_stderr,
    sweep_runs,
    temp_dir,
    write_project,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.postgres_cluster


def _fixed_costs(uri: str, sweep: str) -> list[float]:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    runs = sorted(sweep_runs(uri, sweep), key=lambda r: r.info.start_time)
    out = []
    for a, b in zip(runs, runs[1:], strict=False):
        train_s = sum(m.value for m in client.get_metric_history(a.info.run_id, "epoch_time_s"))
        out.append((b.info.start_time - a.info.start_time) / 1000 - train_s)
    return out


def main() -> None:
    from tests.postgres_cluster import PostgresCluster, find_pg_bin
    from tests.reliability.reliability_helpers import MlflowServer

    from sweeplab.cli import main as sweeplab

    args = cli_args(__doc__)
    started = time.perf_counter()
    trials, repeats = (8, 1) if args.quick else (25, 3)
    bin_dir = find_pg_bin()
    if bin_dir is None:
        sys.exit("needs PostgreSQL: sudo apt-get install -y postgresql")
    cluster = PostgresCluster(bin_dir, durable=True)
    cluster.start()
    server = None
    costs: dict[str, list[float]] = {}
    try:
        with temp_dir("team") as tmp:
            project = write_project(
                tmp,
                train={"epochs": 1, "batch_size": 256},
                space={"learning_rate": {"value": 0.001}},
                trials=trials,
            )
            server = MlflowServer(
                tmp / "server", backend_store_uri=cluster.create_database("server")
            )
            server.start()
            for r in range(repeats):
                arms = {
                    "sqlite": [],
                    "pg_tracking": ["--tracking-uri", cluster.create_database(f"t{r}")],
                    "pg_both": [
                        "--tracking-uri", cluster.create_database(f"b{r}"),
                        "--study-storage", cluster.create_database(f"s{r}"),
                    ],
                    "server_pg": [
                        "--tracking-uri", server.uri,
                        "--study-storage", cluster.create_database(f"v{r}"),
                    ],
                }  # fmt: skip
                order = list(arms) if r % 2 == 0 else list(reversed(arms))
                for arm in order:
                    ws = tmp / f"ws-{arm}-{r}"
                    name = f"{arm}-{r}"
                    log(f"repeat {r}: {arm}")
                    with stdout_to_stderr():
                        code = sweeplab(["sweep", str(project), "--name", name, "-w", str(ws),
                                         "--log-models", "none", *arms[arm]])  # fmt: skip
                    assert code == 0, arm
                    extra = arms[arm]
                    uri = extra[1] if extra else f"sqlite:///{ws / 'mlflow.db'}"
                    costs.setdefault(arm, []).extend(_fixed_costs(uri, name))
    finally:
        if server is not None:
            server.stop()
        cluster.stop()
    per_trial_ms = {arm: spread([1000 * c for c in v]) for arm, v in costs.items()}
    base = statistics.median(costs["sqlite"])
    emit(
        "team_stores",
        {
            "trials_per_sweep": trials,
            "repeats": repeats,
            "fixed_cost_per_trial_ms": per_trial_ms,
            "extra_over_sqlite_ms": {
                arm: round(1000 * (statistics.median(v) - base), 1) for arm, v in costs.items()
            },
        },
        started=started,
    )


if __name__ == "__main__":
    main()
