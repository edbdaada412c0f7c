"""Checkpoints: a training run's state as plain data (never code), written atomically.

Owns the file format, `save_checkpoint` / `load_checkpoint` and their validation. Not here:
when to save (train.py) and what to do with a loaded checkpoint (train.py, evaluate.py).

Format (version 1): an uncompressed NumPy ``.npz`` (a zip of ``.npy`` members), written by
``np.savez``. The loader reads it member by member: each ``.npy`` header is parsed first and
object dtypes are refused (a file from a stranger cannot run code), and an array's data is
read only once its dtype, shape and size agree with the network the metadata describes and
with the zip directory (a forged header cannot make it allocate terabytes):
    meta    uint8 [M]   UTF-8 JSON: format, format_version, package_version, arch, head,
                        obs_shape, num_actions, hidden, layout_sha256, step, seconds, episodes,
                        config, created, system, and sha256 + dtype + shape of every array below
    params  float32 [P] the shared parameters in the network's flat layout
    rms     float32 [P] the shared RMSProp statistics (absent: fresh statistics on resume)
    target  float32 [P] the value-based methods' shared target network (absent: for A3C; a
                        value-based run resumed without it starts its target from params)
A file without "head" (written before the value-based methods) is a "policy_value" network.
Loading re-checks everything and raises CheckpointError ("stored X, expected Y").
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import CheckpointError
from .networks import Network

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Checkpoint",
    "atomic_write",
    "layout_hash",
    "load_checkpoint",
    "remove_stale_temp_files",
    "save_checkpoint",
]

FORMAT = "a3c_native.checkpoint"
FORMAT_VERSION = 1
_ARRAYS = ("params", "rms", "target")


def layout_hash(net: Network) -> str:
    """sha256 of the network's parameter layout (arch + every tensor's name, shape, offset).

    Two builds agree on this hash exactly when a parameter vector means the same thing to both.
    """
    desc = {"arch": net.arch, "tensors": [[t.name, list(t.shape), t.offset] for t in net.layout]}
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint (see the module docstring for the file format)."""

    params: np.ndarray
    """Shared parameters, float32 [P]."""
    rms: np.ndarray | None
    """Shared RMSProp statistics, float32 [P], or None when the file has none."""
    step: int
    """Global agent step count when saved (the learning-rate schedule resumes there)."""
    arch: str
    obs_shape: tuple[int, ...]
    num_actions: int
    hidden: tuple[int, int]
    """The mlp's hidden sizes (stored for every arch; only 'mlp' and 'mlp_lstm' use them)."""
    config: dict[str, Any]
    """The run's resolved configuration (A3CConfig.to_dict()); {} if saved without one."""
    seconds: float = 0.0
    """Training wall time so far, summed over resumed runs."""
    episodes: int = 0
    """Games finished so far, summed over resumed runs."""
    package_version: str = ""
    format_version: int = FORMAT_VERSION
    meta: dict[str, Any] = field(default_factory=dict)
    """The whole JSON metadata (including created time and system info)."""
    head: str = "policy_value"
    """'policy_value' (A3C) or 'q' (the value-based methods)."""
    target: np.ndarray | None = None
    """The value-based methods' shared target network, float32 [P] (None: not stored)."""

    def network(self) -> Network:
        """The network these parameters belong to."""
        return Network(self.arch, self.obs_shape, self.num_actions, hidden=self.hidden, head=self.head)


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every OS (Windows), hence the guard.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Write a file so that `path` always holds either its old content or the complete new one.

    `write(f)` fills a temporary file in the same directory; it is flushed and fsynced, renamed
    over `path` (`os.replace`, atomic on POSIX and Windows), and the directory is fsynced. On
    any error (or a crash: only a stray ``.<name>.*.tmp`` remains) `path` is untouched.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path()
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise
    _fsync_dir(directory)
    return path


def remove_stale_temp_files(path: str | os.PathLike[str]) -> None:
    """Delete ``.<name>.*.tmp`` files an interrupted `atomic_write(path)` left behind."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(memoryview(np.ascontiguousarray(a)).cast("B")).hexdigest()


def _as_vector(name: str, a: Any, size: int) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.dtype != np.float32 or a.shape != (size,):
        got = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        msg = f"save_checkpoint: {name} must be a float32 array of shape ({size},), got {got}"
        raise ValueError(msg)
    return np.ascontiguousarray(a)


def save_checkpoint(
    path: str | os.PathLike[str],
    network: Network,
    params: np.ndarray,
    *,
    rms: np.ndarray | None = None,
    step: int = 0,
    config: Any = None,
    seconds: float = 0.0,
    episodes: int = 0,
    target: np.ndarray | None = None,
) -> Path:
    """Save a checkpoint atomically (see the module docstring for the format).

    Args:
        path: the file to write (conventionally ``*.npz``); its directory is created.
        network: the :class:`Network` the parameters belong to (arch, obs shape, actions).
        params: float32 [network.num_params] shared parameters.
        rms: float32 [network.num_params] shared RMSProp statistics (None: not stored).
        step: global agent step count reached (the learning-rate schedule resumes there).
        config: the run's :class:`A3CConfig` (or its ``to_dict()``), stored as JSON.
        seconds, episodes: training wall time and games finished so far.
        target: float32 [network.num_params] shared target network of a value-based method
            (None: not stored).

    Returns the path written. The previous file at `path`, if any, stays intact until the new
    one is complete on disk.
    """
    from ._core import __version__

    n = network.num_params
    arrays = {"params": _as_vector("params", params, n)}
    if rms is not None:
        arrays["rms"] = _as_vector("rms", rms, n)
    if target is not None:
        arrays["target"] = _as_vector("target", target, n)
    if config is not None and not isinstance(config, Mapping):
        config = config.to_dict()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "arch": network.arch,
        "head": network.head,
        "obs_shape": list(network.obs_shape),
        "num_actions": int(network.num_actions),
        "hidden": list(network.hidden or (64, 64)),
        "layout_sha256": layout_hash(network),
        "step": int(step),
        "seconds": float(seconds),
        "episodes": int(episodes),
        "config": dict(config) if config is not None else {},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "system": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "platform": platform.platform(),
        },
        "arrays": {
            k: {"dtype": str(a.dtype), "shape": list(a.shape), "sha256": _sha256(a)}
            for k, a in arrays.items()
        },
    }
    blob = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    return atomic_write(path, lambda f: np.savez(f, meta=blob, **arrays))


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------


def _fail(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {str(path)!r}: {what}")


# The JSON metadata takes a few kB (the config is most of it); a header claiming more than this
# is corrupt or hostile, and is refused before anything is allocated for it.
_MAX_META_BYTES = 16 * 2**20
# Zip and .npy reading errors: all mean a damaged file.
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError)


@dataclass(frozen=True)
class _Member:
    """One ``.npy`` member: its header parsed, its data not read yet."""

    name: str  # without ".npy"
    info: zipfile.ZipInfo
    dtype: np.dtype
    shape: tuple[int, ...]
    data_offset: int  # bytes of magic and header before the data

    @property
    def claimed(self) -> int:
        """Data bytes the header claims (Python ints: no overflow for forged shapes)."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def stored(self) -> int:
        """Data bytes the zip directory says the member holds (uncompressed)."""
        return self.info.file_size - self.data_offset


def _open_zip(path: Path) -> zipfile.ZipFile:
    with path.open("rb") as f:  # FileNotFoundError/IsADirectoryError propagate as they are
        magic = f.read(4)
    if not magic:
        raise _fail(path, "empty file (truncated to 0 bytes)")
    if magic != b"PK\x03\x04":
        raise _fail(path, "not an a3c_native checkpoint (not an .npz zip archive)")
    try:
        return zipfile.ZipFile(path)
    except _READ_ERRORS as e:
        raise _fail(path, f"corrupt or truncated ({type(e).__name__}: {e})") from None


def _read_header(path: Path, z: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Member:
    """Parse a member's .npy header only (numpy bounds the header itself to 10 kB)."""
    name = info.filename[: -len(".npy")]
    try:
        with z.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f".npy format version {version} is not supported")
            offset = f.tell()
    except _READ_ERRORS as e:
        raise _fail(path, f"member {info.filename} is corrupt ({type(e).__name__}: {e})") from None
    if dtype.hasobject:
        raise _fail(path, f"member {info.filename} holds pickled objects, refused")
    return _Member(name, info, dtype, tuple(int(d) for d in shape), offset)


def _read_members(path: Path, z: zipfile.ZipFile) -> dict[str, _Member]:
    members = {}
    for info in z.infolist():
        if info.filename.endswith(".npy"):
            m = _read_header(path, z, info)
            members[m.name] = m
    return members


def _read_data(path: Path, z: zipfile.ZipFile, m: _Member) -> np.ndarray:
    """The member's array. Only called once its header's dtype and shape were checked against
    what is expected, so the allocation below is bounded by that, never by the header alone."""
    if m.claimed != m.stored:
        raise _fail(
            path,
            f"member {m.info.filename} is corrupt: its header claims {m.claimed:,} data bytes, "
            f"the zip directory {m.stored:,}",
        )
    a = np.empty(m.shape, dtype=m.dtype)
    try:
        with z.open(m.info) as f:
            f.read(m.data_offset)
            got = f.readinto(memoryview(a).cast("B")) if a.nbytes else 0
            # Reading to the end makes zipfile check the member's CRC-32.
            if got != a.nbytes or f.read(1):
                raise EOFError(f"{got:,} of {a.nbytes:,} data bytes")
    except _READ_ERRORS as e:
        raise _fail(path, f"corrupt or truncated ({type(e).__name__}: {e})") from None
    return a


def _check_equal(path: Path, name: str, stored: Any, expected: Any) -> None:
    if expected is not None and stored != expected:
        raise _fail(path, f"stored {name} {stored!r}, expected {expected!r}")


def _read_meta(path: Path, z: zipfile.ZipFile, members: dict[str, _Member]) -> dict[str, Any]:
    if "meta" not in members:
        raise _fail(path, f"not an a3c_native checkpoint (no 'meta' member; has {sorted(members)})")
    m = members["meta"]
    if m.dtype != np.uint8 or len(m.shape) != 1:
        got = f"{m.dtype} {list(m.shape)}"
        raise _fail(path, f"corrupt metadata (stored {got}, expected uint8 [M])")
    if m.claimed > _MAX_META_BYTES:
        raise _fail(
            path,
            f"corrupt metadata (stored size {m.claimed:,} bytes, expected at most "
            f"{_MAX_META_BYTES:,})",
        )
    blob = _read_data(path, z, m)
    try:
        meta = json.loads(blob.tobytes().decode("utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("meta is not a JSON object")
    except ValueError as e:
        raise _fail(path, f"corrupt metadata ({e})") from None
    return meta


def _check_array_header(path: Path, m: _Member, spec: Any, num_params: int) -> None:
    """The member's stored dtype and shape, from its header, against the network's (then
    against the metadata's record of them), before a byte of its data is read."""
    name = m.name
    if m.dtype != np.float32:
        raise _fail(path, f"array {name!r}: stored dtype {m.dtype}, expected float32")
    if len(m.shape) != 1:
        raise _fail(path, f"array {name!r}: stored shape {m.shape}, expected ({num_params},)")
    if m.shape[0] != num_params:
        raise _fail(
            path, f"array {name!r}: stored parameter count {m.shape[0]}, expected {num_params}"
        )
    recorded = (spec.get("dtype"), spec.get("shape")) if isinstance(spec, dict) else spec
    if recorded != (str(m.dtype), list(m.shape)):
        raise _fail(path, f"array {name!r} is {m.dtype} {list(m.shape)}, metadata says {recorded}")


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    arch: str | None = None,
    num_actions: int | None = None,
    obs_shape: tuple[int, ...] | None = None,
) -> Checkpoint:
    """Load and validate a checkpoint written by :func:`save_checkpoint`.

    Checks, each failing with :class:`CheckpointError` (a ValueError): the file is a zip of
    ``.npy`` members without pickled objects (corrupt, truncated, foreign files); it carries
    our metadata with a format version this build reads (newer formats are refused); every
    array's dtype and shape, read from its ``.npy`` header before its data, are float32 and
    the stored network's parameter count, agree with the metadata and with the member's size
    in the zip directory (so no header can make the loader allocate more than the network
    needs); every array matches its stored sha256; the layout hash matches this build's
    network for the stored arch; and, when given, the expected `arch`, `num_actions` and
    `obs_shape` ("stored X, expected Y"). A missing file raises FileNotFoundError.
    """
    path = Path(path)
    with _open_zip(path) as z:
        members = _read_members(path, z)
        meta = _read_meta(path, z, members)
        if meta.get("format") != FORMAT:
            raise _fail(path, f"not an a3c_native checkpoint (format {meta.get('format')!r})")
        version = meta.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise _fail(path, f"invalid format_version {version!r}")
        if version > FORMAT_VERSION:
            raise _fail(
                path,
                f"stored format version {version}, expected <= {FORMAT_VERSION} "
                f"(written by a3c_native {meta.get('package_version', '?')}): upgrade a3c_native",
            )
        try:
            specs = dict(meta["arrays"])
            stored_arch = str(meta["arch"])
            stored_obs = tuple(int(d) for d in meta["obs_shape"])
            stored_actions = int(meta["num_actions"])
            hidden = tuple(int(h) for h in meta["hidden"])
            step = int(meta["step"])
            head = str(meta.get("head", "policy_value"))
        except (KeyError, TypeError, ValueError) as e:
            raise _fail(path, f"corrupt metadata (missing or invalid {e})") from None
        if "params" not in specs:
            raise _fail(path, "no 'params' array")
        _check_equal(path, "arch", stored_arch, arch)
        _check_equal(path, "num_actions", stored_actions, num_actions)
        _check_equal(path, "obs_shape", stored_obs, None if obs_shape is None else tuple(obs_shape))
        try:
            net = Network(stored_arch, stored_obs, stored_actions, hidden=hidden, head=head)
        except (TypeError, ValueError) as e:
            raise _fail(path, f"describes a network this build cannot make ({e})") from None
        arrays: dict[str, np.ndarray] = {}
        for name in _ARRAYS:
            if name not in specs:
                continue
            if name not in members:
                raise _fail(path, f"array {name!r} listed in the metadata is missing")
            _check_array_header(path, members[name], specs[name], net.num_params)
            a = _read_data(path, z, members[name])
            if _sha256(a) != specs[name].get("sha256"):
                raise _fail(path, f"array {name!r} is corrupt (sha256 mismatch)")
            arrays[name] = a
    _check_equal(path, "layout hash", meta.get("layout_sha256"), layout_hash(net))
    return Checkpoint(
        params=arrays["params"],
        rms=arrays.get("rms"),
        step=step,
        arch=stored_arch,
        obs_shape=stored_obs,
        num_actions=stored_actions,
        hidden=hidden,  # type: ignore[arg-type]
        config=dict(meta.get("config") or {}),
        seconds=float(meta.get("seconds", 0.0)),
        episodes=int(meta.get("episodes", 0)),
        package_version=str(meta.get("package_version", "")),
        format_version=version,
        meta=meta,
        head=head,
        target=arrays.get("target"),
    )
