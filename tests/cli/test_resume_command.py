"""The command a stopped sweep prints: what the user types to resume it, shell-quoted, with
the flags a resume does not read back from the sweep."""

from __future__ import annotations

import shlex
from pathlib import Path

from sweeplab.cli.sweep import resume_command
from sweeplab.tuning import SweepSettings


def test_the_resume_command_is_quoted_and_names_the_sweep_and_workspace():
    settings = SweepSettings(project_path=Path("my projects/digits.yaml"))
    line = resume_command(settings, "digits-20261204-170102", Path("/home/me/sweep lab"))
    assert line == (
        "sweeplab sweep 'my projects/digits.yaml' --resume --name digits-20261204-170102 "
        "-w '/home/me/sweep lab'"
    )
    assert shlex.split(line)[2] == "my projects/digits.yaml"


def test_a_ray_sweep_resumes_with_its_backend_resources_and_failure_limit():
    settings = SweepSettings(
        project_path=Path("p.yaml"),
        workspace=Path("ws"),  # as the user gave it, not the resolved folder
        backend="ray",
        ray_address="ray://head:10001",
        cpus_per_trial=2.0,
        gpus_per_trial=0.5,
        max_concurrent=4,
        scheduler="asha",
        max_failures=3,
    )
    assert shlex.split(resume_command(settings, "s", Path("/abs/ws"))) == [
        "sweeplab", "sweep", "p.yaml", "--resume", "--name", "s", "-w", "ws",
        "--backend", "ray", "--ray-address", "ray://head:10001", "--cpus-per-trial", "2",
        "--gpus-per-trial", "0.5", "--max-concurrent", "4", "--scheduler", "asha",
        "--max-failures", "3",
    ]  # fmt: skip
