"""Finding Ray and the cluster: the import, the address, the node count, with one-line errors
that name the fix."""

from __future__ import annotations

import logging
import socket
from types import ModuleType
from typing import Any

from a3c_native.config import A3CConfig, usable_cpus
from a3c_native.errors import ConfigError

log = logging.getLogger("a3c_native")

# Connecting to an address that does not answer: Ray retries for a minute or more; a TCP
# probe first fails in this many seconds with the reason.
_PROBE_SECONDS = 5.0


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        msg = 'the cluster mode (A3CConfig.ray_address, --ray) needs Ray: pip install "a3c_native[ray]" (or pip install ray)'
        raise ConfigError(msg) from None
    return ray


def _probe(host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=_PROBE_SECONDS):
            return
    except OSError as e:
        reason = e.strerror or type(e).__name__
        msg = (
            f"A3CConfig.ray_address={host}:{port}: cannot reach a Ray head there ({reason}); start "
            f"one with `ray start --head` on that machine, or use ray_address='local' (--ray local) "
            "for simulated nodes on this one"
        )
        raise ConfigError(msg) from None


def connect(ray: ModuleType, cfg: A3CConfig) -> bool:
    """Connect this process to the cluster cfg.ray_address names. Returns True if this call
    started Ray (then the caller shuts it down). An existing connection (ray.init called by
    the user, e.g. to a test cluster) is used as it is for 'auto', 'local' or its own address;
    another address is refused."""
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if cfg.ray_address not in ("auto", "local", current):
            msg = (
                f"A3CConfig.ray_address={cfg.ray_address!r}, but this process is already connected to "
                f"the Ray cluster at {current!r}: pass ray_address='auto' to use that one, or call "
                "ray.shutdown() first"
            )
            raise ConfigError(msg)
        return False
    quiet: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False, "include_dashboard": False}
    address = cfg.ray_address
    if address == "local":
        nodes = cfg.nodes or max(1, usable_cpus() // cfg.threads)
        # address="local": always a new private instance, never a cluster `ray start` left running.
        ray.init(address="local", num_cpus=nodes * cfg.threads, **quiet)
        return True
    if address != "auto":
        host, _, port = address.rpartition(":")  # type: ignore[union-attr]
        _probe(host, int(port))
    try:
        ray.init(address=address, **{k: v for k, v in quiet.items() if k != "include_dashboard"})
    except ConnectionError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        msg = (
            f"A3CConfig.ray_address={address!r}: no Ray cluster to join ({first}); start one with "
            "`ray start --head` (and `ray start --address=HEAD:6379` on the other machines), or use "
            "ray_address='local' (--ray local) for simulated nodes on this machine"
        )
        raise ConfigError(msg) from None
    return True


def resolve_nodes(ray: ModuleType, cfg: A3CConfig) -> int:
    """How many node actors to start (cfg.nodes, or one per alive Ray node with `threads` CPUs),
    checked against the cluster's CPUs so that none waits forever for a place."""
    alive = [n for n in ray.nodes() if n.get("Alive")]
    fit = [n for n in alive if n.get("Resources", {}).get("CPU", 0) >= cfg.threads]
    nodes = cfg.nodes or len(fit)
    total = ray.cluster_resources().get("CPU", 0)
    if nodes == 0 or nodes * cfg.threads > total:
        msg = (
            f"A3CConfig.nodes={nodes} x threads={cfg.threads} needs {max(nodes, 1) * cfg.threads} CPUs; the Ray "
            f"cluster has {total:g} on {len(alive)} node(s) ({len(fit)} with {cfg.threads}+ CPUs): "
            "lower nodes or threads, or add machines (ray start --address=HEAD:6379)"
        )
        raise ConfigError(msg)
    return nodes
