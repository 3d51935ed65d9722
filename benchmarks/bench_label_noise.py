"""Probable label errors against planted label noise (issue: label errors that hold up).

For scikit-learn's digits and breast-cancer data, with 0 %, 5 % and 10 % of the labels
flipped at random to another class (seeded; several seeds): a short ``sweeplab sweep`` on a
CSV of the noisy data, then what ``sweeplab report`` computes for its best trial: the
cross-fitted out-of-sample probabilities of train + dev and the label check. The report's dev
suspects are compared with the dev flips:

* ``precision`` / ``recall`` per rate (median and spread over seeds, and pooled over the
  seeds' dev flips: breast cancer's dev set holds 2-6 flips per seed), beside the same figures
  for ``cleanlab.filter.find_label_issues(filter_by="both")`` called directly on the same
  probabilities (pooled train + dev, dev reported);
* at 0 %: the share of dev examples flagged (target ≤ 1 %), and on the shipped
  ``projects/digits_mismatch.yaml`` (a short sweep of it; target ≤ 2 %);
* the time the label check adds to a report per 1,000 train + dev examples: cross-fitting
  (15 trainings, once per trial: cached in its run) and the analysis itself.

Targets at 5 and 10 %: precision ≥ 0.8, recall ≥ 0.7. ``--quick``: digits only, 1 seed;
``--seeds``: which seeds (default 0 1 2); ``--datasets``: which of the two (default both);
``--dump DIR``: each case's probabilities as .npz.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import ROOT, cli_args, emit, log, spread, stdout_to_stderr, temp_dir

RATES = (0.0, 0.05, 0.10)
SEEDS = (0, 1, 2)
DATASETS = ("digits", "breast_cancer")
SPACE = """parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-3, max: 1.0e-2}
  hidden_units: {distribution: int_log_uniform, min: 64, max: 256}
"""


def _noisy_csv(folder: Path, dataset: str, rate: float, seed: int) -> tuple[Path, np.ndarray]:
    import pandas as pd
    from sklearn import datasets

    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    k = int(y.max()) + 1
    rng = np.random.default_rng(1000 + seed)
    flipped = rng.random(len(y)) < rate
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, k, flipped.sum())) % k
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["y"] = [f"c{v}" for v in noisy]
    path = folder / f"{dataset}.csv"
    frame.to_csv(path, index=False)
    return path, flipped


def _project(folder: Path, csv: Path, seed: int) -> Path:
    (folder / "space.yaml").write_text(SPACE)
    path = folder / "project.yaml"
    path.write_text(
        f"""name: noise
data:
  source: csv:{csv}
  label: y
  splits: {{train: 0.7, train_dev: 0.1, dev: 0.1, test: 0.1}}
  seed: {seed}
task: multiclass
model: {{name: mlp, activation: relu, init: he}}
train: {{epochs: 20, batch_size: 64, optimizer: adam}}
metrics:
  optimize: {{name: dev_error, goal: minimize}}
search: {{space: space.yaml, sampler: random, trials: 3, seed: {seed}}}
"""
    )
    return path


def _mismatch_project(folder: Path) -> Path:
    """The shipped digits_mismatch project, with a 3-trial search (its space, absolute)."""
    text = (ROOT / "projects" / "digits_mismatch.yaml").read_text()
    text = text.replace("../search_spaces/", f"{ROOT / 'search_spaces'}/").replace(
        "trials: 10", "trials: 3"
    )
    path = folder / "digits_mismatch.yaml"
    path.write_text(text)
    return path


def _sweep_and_check(project: Path, ws: Path, dump: Path | None = None) -> dict[str, Any]:
    from cleanlab.filter import find_label_issues

    from sweeplab.cli import main
    from sweeplab.reports._crossfit import out_of_sample, pooled
    from sweeplab.reports._evaluate import evaluate_trial, resolve_trial
    from sweeplab.reports._report_data import label_check
    from sweeplab.tracking import client_for

    with stdout_to_stderr():
        code = main(["sweep", str(project), "--workspace", str(ws)])
    if code:
        raise RuntimeError(f"sweeplab sweep {project} exited with {code}")
    ref = resolve_trial(None, workspace=ws)
    ev = evaluate_trial(ref)
    client = client_for(ref.info["tracking_uri"])
    t0 = time.perf_counter()
    oos, _ = out_of_sample(ev.ref, ev.context, pooled(ev.context, ev.manifest), client, refit=True)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    check = label_check(ev, oos)
    t_check = time.perf_counter() - t0
    n_train = len(ev.predictions["train"].indices)
    y = np.concatenate([ev.predictions[s].y_true for s in ("train", "dev")])
    direct = np.asarray(find_label_issues(y, oos.probs, filter_by="both"), dtype=bool)
    dev_rows = ev.predictions["dev"].indices
    if dump is not None:  # what the check saw, to study other rules without training again
        np.savez_compressed(
            dump,
            y=y,
            probs=oos.probs,
            pred=np.concatenate([ev.predictions[s].y_pred for s in ("train", "dev")]),
            rows=oos.indices,
            groups=(
                np.zeros(len(y), dtype=np.int64)
                if ev.dataset.domain is None
                else np.asarray(ev.dataset.domain[oos.indices]).astype(str)
            ),
            dev_rows=dev_rows,
            n_train=n_train,
        )
    return {
        "dev_rows": dev_rows,
        # dataset rows (a CSV's row numbers)
        "ours": oos.indices[check.suspects.index.to_numpy().astype(np.int64)],
        "direct": dev_rows[direct[n_train:]],
        "n_pooled": len(oos.indices),
        "crossfit_s": t_fit,
        "check_s": t_check,
        "no_evidence": check.no_evidence,
        "verdict": check.verdict(),
    }


def _scores(found: np.ndarray, flips: set[int]) -> tuple[float, float]:
    hits = len(set(found.tolist()) & flips)
    precision = hits / len(found) if len(found) else (1.0 if not flips else 0.0)
    recall = hits / len(flips) if flips else float("nan")
    return precision, recall


def main() -> None:
    args = cli_args(
        __doc__.splitlines()[0],
        extra=[
            ("--dump", {"type": Path, "help": "save each case's probabilities here (.npz)"}),
            ("--seeds", {"type": int, "nargs": "+", "default": list(SEEDS)}),
            (
                "--datasets",
                {"nargs": "+", "choices": DATASETS, "default": list(DATASETS)},
            ),
        ],
    )
    started = time.perf_counter()
    datasets = ("digits",) if args.quick else tuple(args.datasets)
    seeds = args.seeds[:1] if args.quick else args.seeds
    rows: list[dict[str, Any]] = []
    per_1000_fit, per_1000_check = [], []
    for dataset in datasets:
        for rate in RATES:
            for seed in seeds:
                with temp_dir("bench-labels-") as tmp:
                    csv, flipped = _noisy_csv(tmp, dataset, rate, seed)
                    dump = None
                    if args.dump:
                        args.dump.mkdir(parents=True, exist_ok=True)
                        dump = args.dump / f"{dataset}-{rate}-{seed}.npz"
                        np.save(args.dump / f"{dataset}-{rate}-{seed}-flips.npy", flipped)
                    r = _sweep_and_check(_project(tmp, csv, seed), tmp / "ws", dump)
                dev = set(r["dev_rows"].tolist())
                flips = {int(i) for i in np.flatnonzero(flipped)} & dev
                p, rc = _scores(r["ours"], flips)
                dp, drc = _scores(r["direct"], flips)
                per_1000_fit.append(1000 * r["crossfit_s"] / r["n_pooled"])
                per_1000_check.append(1000 * r["check_s"] / r["n_pooled"])
                row = {
                    "dataset": dataset,
                    "rate": rate,
                    "seed": seed,
                    "dev": len(dev),
                    "dev_flips": len(flips),
                    "suspects": len(r["ours"]),
                    "flagged_share": len(r["ours"]) / len(dev),
                    "precision": p,
                    "recall": rc,
                    "direct_suspects": len(r["direct"]),
                    "direct_precision": dp,
                    "direct_recall": drc,
                    "hits": len(set(r["ours"].tolist()) & flips),
                    "direct_hits": len(set(r["direct"].tolist()) & flips),
                    "verdict": r["verdict"],
                }
                log(row)
                rows.append(row)
    summary = []
    for dataset in datasets:
        for rate in RATES:
            sel = [r for r in rows if r["dataset"] == dataset and r["rate"] == rate]
            entry = {"dataset": dataset, "rate": rate, "seeds": len(sel)}
            keys = (
                ("flagged_share",)
                if rate == 0
                else (
                    "precision",
                    "recall",
                    "direct_precision",
                    "direct_recall",
                )
            )
            for key in keys:
                entry[key] = spread([r[key] for r in sel])
            if rate > 0:  # over all seeds' dev flips at once (a small dev set has a few per seed)
                flips = sum(r["dev_flips"] for r in sel)
                for who, n_key, h_key in (
                    ("", "suspects", "hits"),
                    ("direct_", "direct_suspects", "direct_hits"),
                ):
                    found = sum(r[n_key] for r in sel)
                    hits = sum(r[h_key] for r in sel)
                    pr = hits / found if found else float("nan")
                    rc = hits / flips if flips else float("nan")
                    entry[f"{who}precision_pooled"] = pr
                    entry[f"{who}recall_pooled"] = rc
                    entry[f"{who}f1_pooled"] = 2 * pr * rc / (pr + rc) if pr + rc else 0.0
            summary.append(entry)
    with temp_dir("bench-labels-mismatch-") as tmp:
        m = _sweep_and_check(
            _mismatch_project(tmp), tmp / "ws", args.dump / "mismatch.npz" if args.dump else None
        )
    mismatch = {
        "dev": len(m["dev_rows"]),
        "suspects": len(m["ours"]),
        "flagged_share": len(m["ours"]) / len(m["dev_rows"]),
        "direct_flagged_share": len(m["direct"]) / len(m["dev_rows"]),
        "verdict": m["verdict"],
    }
    log(mismatch)
    emit(
        "label_noise",
        {
            "summary": summary,
            "digits_mismatch_0pct": mismatch,
            "crossfit_s_per_1000_examples": spread(per_1000_fit),
            "label_check_s_per_1000_examples": spread(per_1000_check),
            "targets": {
                "precision": ">= 0.8 at 5 and 10 %",
                "recall": ">= 0.7 at 5 and 10 %",
                "flagged_share_0pct": "<= 0.01 (digits_mismatch <= 0.02)",
            },
            "runs": rows,
        },
        started=started,
    )


if __name__ == "__main__":
    main()
