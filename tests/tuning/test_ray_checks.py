"""The Ray backend's checks that need no Ray: which addresses are this machine, and a file
tracking store with a remote cluster is refused before anything starts."""

from __future__ import annotations

import pytest

from sweeplab.cli import main
from sweeplab.tuning._ray_cluster import is_local_ray_address


@pytest.mark.parametrize(
    "address",
    [
        None,
        "",
        "local",
        "auto",
        "AUTO",
        "127.0.0.1:6379",
        "localhost:6379",
        "ray://127.0.0.1:10001",
        "[::1]:6379",
    ],
)
def test_addresses_on_this_machine_are_local(address):
    assert is_local_ray_address(address)


def test_this_hosts_own_name_is_local():
    import socket

    assert is_local_ray_address(f"{socket.gethostname()}:6379")


@pytest.mark.parametrize(
    "address",
    ["10.255.255.1:6379", "ray://10.255.255.1:10001", "203.0.113.7:6379", "[2001:db8::1]:6379"],
)
def test_other_machines_are_remote(address):
    assert not is_local_ray_address(address)


def test_remote_cluster_with_a_file_store_exits_2_with_the_fix(tiny_project, workspace, capsys):
    code = main(
        ["sweep", str(tiny_project), "--backend", "ray", "--ray-address", "10.255.255.1:6379"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "--tracking-uri http://" in err and "10.255.255.1:6379" in err
    assert len(err.strip().splitlines()) == 1  # one line, no traceback
    assert not (workspace / "sweeps").exists() or not any((workspace / "sweeps").iterdir())


def test_a_server_tracking_uri_passes_the_check():
    from sweeplab.tuning import SweepSettings
    from sweeplab.tuning._ray_cluster import check_ray_settings

    settings = SweepSettings(project_path=None, backend="ray", ray_address="10.255.255.1:6379")
    check_ray_settings(settings, tracking_uri="http://mlflow.example:5000")  # no error


@pytest.mark.parametrize("uri", ["sqlite:///tmp/x.db", "file:///tmp/mlruns", "/tmp/mlruns"])
def test_every_file_store_is_refused_with_a_remote_cluster(uri):
    from sweeplab.errors import UserError
    from sweeplab.tuning import SweepSettings
    from sweeplab.tuning._ray_cluster import check_ray_settings

    settings = SweepSettings(
        project_path=None, backend="ray", ray_address="ray://10.255.255.1:10001"
    )
    with pytest.raises(UserError, match="MLflow server"):
        check_ray_settings(settings, tracking_uri=uri)
