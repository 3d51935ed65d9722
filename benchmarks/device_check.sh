#!/usr/bin/env bash
# GPU check of sweeplab on the device machine (nvidia-h200: Python 3.12 with torch + CUDA, no
# network). The packages its image lacks travel as wheels in .whl/ (git-ignored through
# .git/info/exclude; name `.whl` in the run's carry). Run from anywhere:
#
#     bash benchmarks/device_check.sh          # results in $OUT (default /tmp/device_check_out)
#
# Steps, each under `timeout`, each teed into $OUT; a failed step is recorded in
# $OUT/summary.txt and the next step runs:
#   setup  install the wheels into /tmp/site (+ ray into /tmp/site-ray), GPU and versions,
#          the carried wheels' requirements against the image's packages
#   (a)    sweeplab sweep projects/digits_cnn.yaml --trials 3 (Optuna), `runs --json`, and the
#          trials' sweeplab.device tags (must be cuda)
#   (b)    the same with --backend ray --gpus-per-trial 0.5 --max-concurrent 2 --trials 4
#   (c)    benchmarks/bench_training.py --quick (its `gpu` arm: LeNet-5 fit on CUDA vs CPU)
#   (d)    a one-trial sweep of projects/shapes_detection.yaml (device tag cuda)
# The whole script stays under TOTAL_S (default 450 s): each step's timeout is cut to what is
# left. For a dry run on a machine without a GPU (python3 = a Python 3.12 with torch):
#     EXPECT_DEVICE=cpu GPUS_PER_TRIAL=0 OUT=/tmp/dc SITE=/tmp/dc_site SITE_RAY=/tmp/dc_site_ray \
#         TOTAL_S=1200 bash benchmarks/device_check.sh       (step c then fails: no `gpu` arm)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-/tmp/device_check_out}
mkdir -p "$OUT"
SITE=${SITE:-/tmp/site}
SITE_RAY=${SITE_RAY:-/tmp/site-ray}
TOTAL_S=${TOTAL_S:-450}
EXPECT_DEVICE=${EXPECT_DEVICE:-cuda}
GPUS_PER_TRIAL=${GPUS_PER_TRIAL:-0.5}
export OUT SITE SITE_RAY EXPECT_DEVICE PYTHONUNBUFFERED=1 RAY_USAGE_STATS_ENABLED=0
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
FAILED=0
LAST=
SECONDS=0

# step NAME FILE MAX_S CMD...: run CMD (a program or one of the functions below, exported) in
# bash under timeout (MAX_S, or less when the total budget is nearly spent), its output
# appended to $OUT/FILE and shown; record rc and seconds.
step() {
    local name=$1 file=$2 max=$3
    shift 3
    local left=$((TOTAL_S - SECONDS - 5))
    local t=$((max < left ? max : left))
    if ((t < 10)); then
        echo "SKIP  $name (time budget spent)" | tee -a "$SUMMARY"
        FAILED=1
        LAST=SKIP
        return 0
    fi
    echo "=== $name (timeout ${t}s) ===" | tee -a "$OUT/$file"
    local start=$SECONDS rc
    set +e
    timeout -k 10 "$t" bash -c 'set -eo pipefail; "$@"' "$name" "$@" 2>&1 | tee -a "$OUT/$file"
    rc=${PIPESTATUS[0]}
    set -e
    local verdict=PASS
    if ((rc == 124 || rc == 137)); then
        verdict="FAIL (timed out after ${t}s)"
    elif ((rc != 0)); then
        verdict="FAIL (rc=$rc)"
    fi
    LAST=${verdict%% *}
    [[ $verdict == PASS ]] || FAILED=1
    printf '%-5s %-20s %4ss  %s\n' "${verdict%% *}" "$name" "$((SECONDS - start))" \
        "${verdict#PASS}" | tee -a "$SUMMARY"
    # keep what comes back small
    local f=$OUT/$file
    if [[ -f $f ]] && (($(stat -c %s "$f") > 4000000)); then
        { head -c 1000000 "$f"; printf '\n[... cut ...]\n'; tail -c 2000000 "$f"; } >"$f.cut" && mv "$f.cut" "$f"
    fi
    return 0
}

# The sweep as the console script runs it: sweeplab ARGS...
sweeplab() {
    python3 -c 'import sys; from sweeplab.cli import entrypoint; sys.argv = ["sweeplab", *sys.argv[1:]]; entrypoint()' "$@"
}

# The trials' tags in WORKSPACE's MLflow store: each must have trained on EXPECT_DEVICE
device_tags() {
    python3 - "$1" "$2" "$EXPECT_DEVICE" <<'PY'
import collections, sys
from mlflow.tracking import MlflowClient

ws, want, expect = sys.argv[1], int(sys.argv[2]), sys.argv[3]
client = MlflowClient(f"sqlite:///{ws}/mlflow.db")
runs = [
    r
    for e in client.search_experiments()
    for r in client.search_runs([e.experiment_id], "tags.`sweeplab.kind` = 'trial'")
]
runs.sort(key=lambda r: int(r.data.tags.get("sweeplab.trial_number", -1)))
for r in runs:
    t, m = r.data.tags, r.data.metrics
    dur = ((r.info.end_time or r.info.start_time) - r.info.start_time) / 1000
    print(
        f"trial {t.get('sweeplab.trial_number')}: sweeplab.device={t.get('sweeplab.device')} "
        f"status={t.get('sweeplab.status')} mlflow={r.info.status} "
        f"dev_error={m.get('dev_error')} run {dur:.1f}s"
    )
# most trials running at once, from the runs' start and end times
edges = sorted(
    [(r.info.start_time, 1) for r in runs] + [(r.info.end_time or r.info.start_time, -1) for r in runs],
    key=lambda e: (e[0], e[1]),
)
now = peak = 0
for _, d in edges:
    now += d
    peak = max(peak, now)
devices = collections.Counter(r.data.tags.get("sweeplab.device") for r in runs)
ok = len(runs) == want and all(d and d.startswith(expect) for d in devices.elements())
print(f"{len(runs)} trial runs (want {want}); devices {dict(devices)}; at most {peak} at once")
print("device tags OK" if ok else f"device tags FAIL: every trial must have trained on {expect}")
sys.exit(0 if ok else 1)
PY
}

# -- setup --------------------------------------------------------------------------------
setup_install() {
    rm -rf "$SITE" "$SITE_RAY"
    local pip=(python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir)
    # ray apart: if its wheel fails, the Optuna steps still run
    "${pip[@]}" --target "$SITE" $(ls .whl/*.whl | grep -v '/ray-')
    "${pip[@]}" --target "$SITE_RAY" .whl/ray-*.whl
    du -sh "$SITE" "$SITE_RAY"
}

setup_env() {
    nvidia-smi -L || echo "nvidia-smi failed"
    nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv || true
    echo "cpus: $(nproc)  python3: $(command -v python3)"
    # the image's own versions (before the wheels go on the path)
    PYTHONPATH= python3 - <<'PY'
import importlib.metadata as md, sys
print("python", sys.version.split()[0])
names = ("torch numpy pandas pyarrow scikit-learn scikit-image scipy pillow protobuf click rich "
         "typer typing-extensions aiohttp python-dateutil packaging pyyaml requests psutil "
         "jinja2 tqdm msgpack filelock fsspec narwhals certifi matplotlib").split()
vs = []
for n in names:
    try:
        vs.append(f"{n}=={md.version(n)}")
    except md.PackageNotFoundError:
        vs.append(f"{n}: not installed")
print("image:", ", ".join(vs))
PY
}

setup_torch() {
    python3 - <<'PY'
import time
t = time.perf_counter()
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "import", round(time.perf_counter() - t, 1), "s")
print("torch.cuda.is_available():", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device 0:", torch.cuda.get_device_name(0), "count", torch.cuda.device_count())
    x = torch.randn(1024, 1024, device="cuda")
    print("matmul ok:", float((x @ x).sum().isfinite()))
PY
}

# carried wheels' Requires-Dist (and sweeplab's) against what this Python sees
setup_requirements() {
    python3 - "$SITE" "$SITE_RAY" <<'PY'
import importlib.metadata as md, re, sys, tomllib
from packaging.requirements import Requirement
from packaging.version import Version

sites = set(sys.argv[1:])
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
parent = lambda d: str(getattr(d, "_path", "")).rsplit("/", 1)[0]
have = {}
for d in md.distributions():  # first on sys.path wins, as for imports
    have.setdefault(norm(d.metadata["Name"]), (d.version, parent(d) in sites))
carried = sorted((d for d in md.distributions() if parent(d) in sites), key=lambda d: norm(d.metadata["Name"]))

def check(owner, reqs, extras=("",)):
    bad = []
    for r in reqs:
        req = Requirement(r)
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras):
            continue
        n = norm(req.name)
        if n not in have:
            bad.append(f"{owner}: needs {req} -- MISSING")
        elif req.specifier and not req.specifier.contains(Version(have[n][0]), prereleases=True):
            bad.append(f"{owner}: needs {req} -- {'carried' if have[n][1] else 'image'} has {have[n][0]}")
    return bad

bad = []
for d in carried:
    name = norm(d.metadata["Name"])
    bad += check(f"{name} {d.version}", d.requires or [], ("", "tune") if name == "ray" else ("",))
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
bad += check("sweeplab", [r.replace("ray[tune]", "ray") for r in deps])
print(f"{len(carried)} carried: " + ", ".join(f"{norm(d.metadata['Name'])}=={d.version}" for d in carried))
print(f"unmet requirements: {len(bad)} (torch==2.13.0 is the CPU pin of dev/CI; the image's CUDA torch stands in)")
for b in bad:
    print("  " + b)
import sweeplab.cli  # noqa: F401  the CLI imports with these packages
print("import sweeplab.cli: ok")
PY
}

export -f sweeplab device_tags setup_install setup_env setup_torch setup_requirements

step install 00_setup.txt 120 setup_install
export PYTHONPATH=$SITE:$SITE_RAY:$ROOT/platform
step environment 00_setup.txt 60 setup_env
step torch-cuda 00_setup.txt 90 setup_torch
step requirements 00_setup.txt 90 setup_requirements

# -- (a) Optuna backend -------------------------------------------------------------------
WS_A=$(mktemp -d /tmp/sweeplab-dc-optuna.XXXX)
step a-optuna-sweep 01_optuna_sweep.txt 150 \
    sweeplab sweep projects/digits_cnn.yaml --trials 3 --seed 0 --workspace "$WS_A"
step a-runs-json 01_optuna_sweep.txt 60 sweeplab runs --json --workspace "$WS_A"
step a-device-tags 01_optuna_sweep.txt 60 device_tags "$WS_A" 3

# -- (b) Ray backend, two trials sharing the GPU ------------------------------------------
WS_B=$(mktemp -d /tmp/sweeplab-dc-ray.XXXX)
step b-ray-sweep 02_ray_sweep.txt 200 \
    sweeplab sweep projects/digits_cnn.yaml --backend ray --gpus-per-trial "$GPUS_PER_TRIAL" \
    --max-concurrent 2 --trials 4 --seed 0 --workspace "$WS_B"
# A Ray left behind by a killed sweep would hold the GPU in the next steps. `ray stop --force`
# ends every Ray of the machine, so only on the device machine (EXPECT_DEVICE=cuda), whose
# Ray is this script's alone, and only when the sweep failed (a finished sweep stops its own).
if [[ $LAST != PASS && $EXPECT_DEVICE == cuda ]]; then
    timeout 30 python3 -m ray.scripts.scripts stop --force >/dev/null 2>&1 || true
fi
step b-runs-json 02_ray_sweep.txt 60 sweeplab runs --json --workspace "$WS_B"
step b-device-tags 02_ray_sweep.txt 60 device_tags "$WS_B" 4

# -- (c) bench_training --quick: LeNet-5 fit on CUDA vs CPU (the `gpu` arm) -----------------
bench_training() {
    python3 benchmarks/bench_training.py --quick >"$OUT/03_bench_training.json"
    python3 - "$OUT/03_bench_training.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("fit / hand loop:", {k: v["ratio_fit_over_hand"] for k, v in d["models"].items()})
print("gpu:", json.dumps(d["gpu"], indent=1))
print("bench_wall_s:", d["bench_wall_s"])
sys.exit(0 if isinstance(d["gpu"], dict) else 1)
PY
}
export -f bench_training
step c-bench-training 03_bench_training.txt 150 bench_training

# -- (d) one trial of the detection project --------------------------------------------------
WS_D=$(mktemp -d /tmp/sweeplab-dc-detect.XXXX)
step d-shapes-detection 04_shapes_detection.txt 150 \
    sweeplab sweep projects/shapes_detection.yaml --trials 1 --seed 0 --workspace "$WS_D"
step d-device-tags 04_shapes_detection.txt 45 device_tags "$WS_D" 1

echo "total ${SECONDS}s" | tee -a "$SUMMARY"
echo "=== summary ==="
cat "$SUMMARY"
exit "$FAILED"
