"""`sweeplab ui` as a process: the address it prints is the one it listens on, a host other
machines can reach needs --allow-remote, bad hosts exit 2 with one line, and the MLflow
server (its leader and its uvicorn worker) dies with `sweeplab ui` however that ends: Ctrl-C,
SIGHUP (the terminal closed), kill -9."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _ui_processes import cmdlines, listening
from sweeplab._processes import group_members
from sweeplab.cli import main
from sweeplab.tracking._ui_server import bind_address

SWEEPLAB = str(Path(sys.executable).with_name("sweeplab"))


def _store(tmp_path: Path) -> Path:
    """A workspace with an (empty) MLflow store: what `sweeplab ui` needs to start."""
    from sweeplab.tracking import client_for  # quiet: MLflow's schema messages are not ours

    ws = tmp_path / "ws"
    ws.mkdir()
    client_for(f"sqlite:///{ws / 'mlflow.db'}").create_experiment("e")
    return ws


def _server(ws: Path) -> tuple[int, set[int]]:
    """(the server's process group, its live processes and the guard's) for ``ws``."""
    procs = cmdlines()
    (leader,) = [p for p, c in procs.items() if str(ws) in c and "mlflow\x00ui" in c]
    pgid = os.getpgid(leader)
    guard = [p for p, c in procs.items() if f"sweeplab._processes\x00{pgid}\x00" in c]
    assert len(guard) == 1, "no guard process"
    return pgid, {*group_members(pgid), *guard}


def _start(ws: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [SWEEPLAB, "ui", "--workspace", str(ws)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 240
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        m = re.match(r"MLflow UI listening on 127\.0\.0\.1:(\d+) \(this machine only\)", line)
        if m:
            return proc, int(m.group(1))
        assert line, f"sweeplab ui ended before listening: {''.join(seen)!r}"
    raise AssertionError(f"no 'listening' line: {''.join(seen)!r}")


def _wait_gone(pids, timeout_s: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout_s
    left = list(pids)
    while left and time.monotonic() < deadline:
        left = [p for p in left if Path(f"/proc/{p}").exists() and not _zombie(p)]
        time.sleep(0.2)
    return left


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2 :].split()[0] in ("Z", "X")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill -9", "SIGHUP"])
def test_the_server_dies_with_sweeplab_ui_however_it_ends(tmp_path, how):
    ws = _store(tmp_path)
    proc, port = _start(ws)
    try:
        # it listens where it says, and only there
        assert listening(port) == ["0100007F"]
        pgid, server = _server(ws)
        procs = cmdlines()
        assert any("uvicorn" in procs.get(p, "") for p in group_members(pgid))
        assert pgid != os.getpgid(proc.pid)  # its own group: a terminal's ^C is ours
        if how == "kill -9":
            proc.kill()
        else:
            proc.send_signal(signal.SIGHUP)
        out, _ = proc.communicate(timeout=60)
        if how == "SIGHUP":
            assert proc.returncode == 0 and out.strip().endswith("MLflow UI stopped.")
            assert "Traceback" not in out
        assert _wait_gone(server) == []  # the leader, uvicorn and the guard
        assert group_members(pgid) == []
        assert listening(port) == []
        with socket.socket() as s:  # the port is free again
            s.bind(("127.0.0.1", port))
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid, c in cmdlines().items():
            if str(ws) in c:
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    "host, said",
    [
        ("0.0.0.0", "--allow-remote"),
        ("::", "--allow-remote"),
        ("no-such-host.invalid", "is not an address or a name this machine resolves"),
        ("192.0.2.1", "is not an address of this machine"),  # TEST-NET-1: nobody's address
    ],
)
def test_bad_or_remote_hosts_exit_2_with_one_line(tmp_path, capsys, host, said):
    ws = tmp_path / "ws"  # the address is checked first: no store needed
    args = ["ui", "--workspace", str(ws), "--host", host]
    if said != "--allow-remote":
        args.append("--allow-remote")
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and said in err and "Traceback" not in err
    assert not ws.exists()  # nothing was started or created


def test_a_port_in_use_exits_2_naming_it(tmp_path, capsys):
    ws = tmp_path / "ws"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["ui", "--workspace", str(ws), "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"--port {port}" in err and "in use" in err


def test_remote_hosts_are_bound_where_asked_with_allow_remote():
    every = bind_address("0.0.0.0", None, allow_remote=True)
    assert every.every_interface and not every.loopback and every.port > 0
    assert every.local_url == f"http://127.0.0.1:{every.port}"
    local = bind_address("localhost", None, allow_remote=False)
    assert local.loopback and local.address == "127.0.0.1"
