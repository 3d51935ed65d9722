"""Where the Ray backend's trials run: start or join Ray, and reject what cannot work there
(a tracking store that is a file on this machine while trials run on other machines; a
trial that no node has the resources for)."""

from __future__ import annotations

import ipaddress
import os
import socket

from sweeplab.errors import UserError
from sweeplab.tracking import is_local_uri
from sweeplab.tuning._lifecycle import ProgressFn, StatusMessage
from sweeplab.tuning._settings import SweepSettings

__all__ = ["check_ray_settings", "connect", "check_cluster", "is_local_ray_address"]


# -- checks before anything starts ---------------------------------------------------------
def is_local_ray_address(address: str | None) -> bool:
    """Whether every node of the cluster at ``address`` can only be this machine.

    ``None`` / ``"local"`` start a Ray here. ``"auto"`` and ``host:port`` / ``ray://host:port``
    are local when the host is a loopback address or one of this machine's own names or
    addresses. (A cluster started here may still have nodes elsewhere; ``run_ray`` checks
    the nodes again once connected.)
    """
    if address is None or address.strip().lower() in ("", "local"):
        return True
    text = address.strip()
    if text.lower() == "auto":
        return True
    if "://" in text:
        text = text.split("://", 1)[1]
    host = text.rsplit(":", 1)[0] if text.count(":") == 1 or text.startswith("[") else text
    host = host.strip("[]").split("/")[0]
    return _is_this_host(host)


def _own_addresses() -> set[str]:
    names = {"localhost", socket.gethostname(), socket.getfqdn()}
    addresses = {"127.0.0.1", "::1"}
    for name in list(names):
        try:
            addresses.update(socket.gethostbyname_ex(name)[2])
        except OSError:
            pass
    try:  # the address other hosts see us by (no packet is sent for a UDP connect)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.254.254.254", 1))
            addresses.add(s.getsockname()[0])
    except OSError:
        pass
    return {n.lower() for n in names} | addresses


def _is_this_host(host: str) -> bool:
    host = host.lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host in _own_addresses():
            return True
        try:
            ip = ipaddress.ip_address(socket.gethostbyname(host))
        except OSError:
            return False  # a name we cannot resolve is not this machine
    return ip.is_loopback or str(ip) in _own_addresses()


def _file_store_message(tracking_uri: str, where: str) -> str:
    return (
        f"--tracking-uri {tracking_uri} is a file on this machine, but {where}: trials on "
        "other nodes cannot write to it. Start an MLflow server that every node can reach "
        "(mlflow server --backend-store-uri sqlite:///mlflow.db --host 0.0.0.0) and pass "
        "--tracking-uri http://HOST:5000"
    )


def check_ray_settings(settings: SweepSettings, *, tracking_uri: str) -> None:
    """Reject, before any data is loaded or run created, what cannot work on Ray."""

    if is_local_uri(tracking_uri) and not is_local_ray_address(settings.ray_address):
        raise UserError(
            _file_store_message(
                tracking_uri, f"--ray-address {settings.ray_address} is a remote cluster"
            )
        )
    if settings.cpus_per_trial <= 0 and settings.gpus_per_trial <= 0:
        raise UserError(
            "--cpus-per-trial and --gpus-per-trial are both 0: a trial needs a CPU or a GPU"
        )
    if settings.gpus_per_trial > 1 and not float(settings.gpus_per_trial).is_integer():
        raise UserError(
            f"--gpus-per-trial above 1 must be a whole number, but got {settings.gpus_per_trial}"
        )


# -- Ray itself ------------------------------------------------------------------------------
def connect(settings: SweepSettings, say: ProgressFn) -> bool:
    """Start or join Ray; returns whether we own the connection (and shut it down after)."""
    import logging

    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Save Tune's experiment state after every step, so a killed driver loses no finished
    # trial (the state is a few kB per trial).
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "0")
    if ray.is_initialized():
        return False
    common = {"logging_level": logging.WARNING, "log_to_driver": False}
    if settings.ray_address in (None, "", "local"):
        say(StatusMessage("starting a local Ray"))
        # address="local": a Ray of our own, even when a cluster started with `ray start`
        # (or RAY_ADDRESS) is on this machine; joining one takes --ray-address.
        ray.init(
            address="local",
            num_cpus=os.cpu_count() or 1,
            include_dashboard=False,
            object_store_memory=256 * 1024**2,
            **common,
        )
    else:
        say(StatusMessage(f"joining the Ray cluster at {settings.ray_address}"))
        try:
            ray.init(address=settings.ray_address, **common)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UserError(
                f"cannot join the Ray cluster at --ray-address {settings.ray_address}: "
                f"{str(exc).splitlines()[0][:300]}"
            ) from None
    return True


def check_cluster(settings: SweepSettings, tracking_uri: str) -> None:
    """The cluster can place a trial, and a file store is only used when every node is here."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if is_local_uri(tracking_uri):
        remote = sorted(
            {n["NodeManagerAddress"] for n in nodes if not _is_this_host(n["NodeManagerAddress"])}
        )
        if remote:
            raise UserError(
                _file_store_message(
                    tracking_uri, f"the Ray cluster has nodes on {', '.join(remote)}"
                )
            )
    need = {"CPU": settings.cpus_per_trial, "GPU": settings.gpus_per_trial}
    for res, amount in need.items():
        if amount <= 0:
            continue
        most = max((n["Resources"].get(res, 0.0) for n in nodes), default=0.0)
        if most < amount:
            flag = "--cpus-per-trial" if res == "CPU" else "--gpus-per-trial"
            raise UserError(
                f"{flag} {amount:g} needs a node with {amount:g} {res}(s), but the largest node of "
                f"the Ray cluster has {most:g}; lower {flag} or add a node that has them"
            )
