"""The MLflow UI server on a workspace's store: where it binds, its command, its start.

The address is checked before the server starts (a name this machine resolves to one of its
own addresses, a port free there); a non-loopback address must be asked for explicitly
(``allow_remote``): MLflow's server has no authentication.
"""

from __future__ import annotations

import errno
import ipaddress
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sweeplab.errors import UserError
from sweeplab.tracking._store import artifact_root, default_tracking_uri

__all__ = ["Bind", "bind_address", "mlflow_ui_command", "wait_listening"]

_HOST_HINT = "use 127.0.0.1 (this machine only), or 0.0.0.0 / :: with --allow-remote"


@dataclass(frozen=True)
class Bind:
    """Where the server listens: a numeric address of this machine and a port."""

    address: str  # 127.0.0.1, ::, 0.0.0.0, 192.168.1.20
    port: int
    family: int

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.address).is_loopback

    @property
    def every_interface(self) -> bool:
        return ipaddress.ip_address(self.address).is_unspecified

    def _url_host(self, address: str) -> str:
        return f"[{address}]" if ":" in address else address

    @property
    def shown(self) -> str:
        """``127.0.0.1:5000``, ``[::]:5000``: the address and port it listens on."""
        return f"{self._url_host(self.address)}:{self.port}"

    @property
    def local_url(self) -> str:
        """The URL a browser on this machine opens."""
        if self.every_interface:
            host = "::1" if self.family == socket.AF_INET6 else "127.0.0.1"
        else:
            host = self.address
        return f"http://{self._url_host(host)}:{self.port}"


def bind_address(host: str, port: int | None, *, allow_remote: bool) -> Bind:
    """Check ``host`` (and ``port``, or pick a free one) by binding it here; UserError if not."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(
            f"--host {host!r} is not an address or a name this machine resolves "
            f"({getattr(exc, 'strerror', None) or exc}); {_HOST_HINT}"
        ) from None
    # IPv4 first: "localhost" listens where http://127.0.0.1 reaches it
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, address = infos[0][0], infos[0][4][0]
    bind = Bind(address, port or 0, family)
    if not bind.loopback and not allow_remote:
        raise UserError(
            f"--host {host!r} ({address}) is reachable from other machines and the MLflow "
            "server has no authentication: add --allow-remote to serve it anyway, or leave "
            "--host out (127.0.0.1)"
        )
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, port or 0))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(
                    f"--port {port}: the port is in use on {address}; leave --port out to take "
                    "a free one"
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise UserError(
                    f"--host {host!r} ({address}) is not an address of this machine; {_HOST_HINT}"
                ) from None
            raise UserError(
                f"--host {host!r} --port {port}: cannot listen there ({exc.strerror})"
            ) from None
        return Bind(address, s.getsockname()[1], family)


def mlflow_ui_command(workspace_root: Path, bind: Bind, *, workers: int = 1) -> list[str]:
    mlflow_bin = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or shutil.which(
        "mlflow"
    )
    base = [mlflow_bin] if mlflow_bin else [sys.executable, "-m", "mlflow"]
    return [
        *base,
        "ui",
        "--backend-store-uri",
        default_tracking_uri(workspace_root),
        "--default-artifact-root",
        artifact_root(workspace_root),
        "--host",
        bind.address,
        "--port",
        str(bind.port),
        "--workers",  # mlflow's default (4) takes a minute to start on a small machine
        str(workers),
    ]


def wait_listening(bind: Bind, alive, timeout_s: float = 300) -> bool:
    """Wait until a connection to ``bind`` is accepted, while ``alive()``; whether it was."""
    target = bind.local_url.rsplit(":", 1)[0].removeprefix("http://").strip("[]")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        try:
            with socket.create_connection((target, bind.port), timeout=2):
                return True
        except OSError:
            time.sleep(0.2)
    return False
