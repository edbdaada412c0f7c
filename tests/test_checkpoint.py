"""Checkpoints: round trip, atomic writes, one test per bad-file case (SB3 test_save_load style),
resuming a run (step count, lr schedule, run-directory files), periodic and SIGTERM saves."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import threading
import tracemalloc
import zipfile
from pathlib import Path

import a3c_native
import gymnasium as gym
import numpy as np
import pytest
from a3c_native import A3CConfig, CheckpointError, ConfigError, Network, train
from a3c_native.checkpoint import (
    FORMAT_VERSION,
    atomic_write,
    layout_hash,
    load_checkpoint,
    save_checkpoint,
)

CARTPOLE = {"arch": "mlp", "gamma": 0.95, "lr": 1e-3, "log_interval_seconds": 0.05, "threads": 2}


def cartpole(seed=None):
    return gym.make("CartPole-v1")


def acrobot(seed=None):
    return gym.make("Acrobot-v1")


def cartpole_cfg(tmp_path: Path | None = None, **kw) -> A3CConfig:
    base = dict(env_fn=cartpole, total_steps=3000, **CARTPOLE)
    if tmp_path is not None:
        base["run_dir"] = str(tmp_path / "run")
    base.update(kw)
    return A3CConfig(**base)


@pytest.fixture
def saved(tmp_path) -> tuple[Path, Network, np.ndarray, np.ndarray]:
    """A small a3c-arch checkpoint with distinct params and rms."""
    net = Network("a3c", (4, 36, 36), 6)
    params = net.init_params(7)
    rms = np.random.default_rng(0).random(net.num_params, dtype=np.float32)
    path = tmp_path / "ckpt.npz"
    save_checkpoint(
        path,
        net,
        params,
        rms=rms,
        step=1234,
        config=A3CConfig(game="pong"),
        seconds=5.5,
        episodes=3,
    )
    return path, net, params, rms


def rewrite(path: Path, edit_meta=None, arrays=None) -> None:
    """Re-save a checkpoint's members with edited metadata/arrays (a valid zip)."""
    with np.load(path, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    meta = json.loads(members["meta"].tobytes())
    if edit_meta:
        edit_meta(meta)
    members["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    members.update(arrays or {})
    np.savez(path, **members)


# --- round trip -------------------------------------------------------------------------------


def test_checkpoint_round_trip_is_identical(saved):
    path, net, params, rms = saved
    c = load_checkpoint(path)
    np.testing.assert_array_equal(c.params, params)
    np.testing.assert_array_equal(c.rms, rms)
    assert c.params.dtype == np.float32
    assert c.rms.dtype == np.float32
    assert (c.step, c.seconds, c.episodes) == (1234, 5.5, 3)
    assert (c.arch, c.obs_shape, c.num_actions) == ("a3c", (4, 36, 36), 6)
    assert c.config == A3CConfig(game="pong").to_dict()
    assert c.package_version == a3c_native.__version__
    assert c.format_version == FORMAT_VERSION
    assert c.meta["layout_sha256"] == layout_hash(net)
    assert A3CConfig.from_dict(c.config) == A3CConfig(game="pong")
    again = c.network()
    assert again.num_params == net.num_params
    assert again.layout == net.layout


def test_checkpoint_without_rms_and_mlp_hidden(tmp_path):
    net = Network("mlp", (5,), 3, hidden=(16, 8))
    path = save_checkpoint(tmp_path / "sub" / "m.npz", net, net.init_params(1))
    c = load_checkpoint(path)
    assert c.rms is None
    assert c.config == {}
    assert c.hidden == (16, 8)
    np.testing.assert_array_equal(c.params, net.init_params(1))


def test_checkpoint_is_data_not_pickle(saved):
    path, *_ = saved
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["meta.npy", "params.npy", "rms.npy"]
    with np.load(path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


def test_checkpoint_save_rejects_wrong_params(tmp_path):
    net = Network("mlp", (4,), 2)
    with pytest.raises(ValueError, match=r"params must be a float32 array of shape"):
        save_checkpoint(tmp_path / "x.npz", net, net.init_params(0).astype(np.float64))
    assert not (tmp_path / "x.npz").exists()


def test_checkpoint_atomic_write_keeps_old_file_on_failure(saved):
    path, *_ = saved
    before = path.read_bytes()

    def crash(f):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, crash)
    assert path.read_bytes() == before
    assert list(path.parent.glob(".*.tmp")) == [], "temporary file left behind"
    load_checkpoint(path)


# --- each bad-file case -----------------------------------------------------------------------


def test_checkpoint_corrupt_array_raises(saved):
    path, *_ = saved
    data = bytearray(path.read_bytes())
    i = data.index(b"params.npy")  # flip bytes inside the params member's data
    for k in range(i + 400, i + 408):
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"corrupt"):
        load_checkpoint(path)


def test_checkpoint_corrupt_sha_detected_even_with_valid_zip(saved):
    path, _net, params, _ = saved
    bad = params.copy()
    bad[0] += 1.0
    rewrite(path, arrays={"params": bad})
    with pytest.raises(CheckpointError, match=r"array 'params' is corrupt \(sha256 mismatch\)"):
        load_checkpoint(path)


def test_checkpoint_corrupt_metadata_raises(saved):
    path, *_ = saved
    with np.load(path) as z:
        members = {k: z[k] for k in z.files}
    members["meta"] = members["meta"][:-10]  # JSON cut short
    np.savez(path, **members)
    with pytest.raises(CheckpointError, match=r"corrupt metadata"):
        load_checkpoint(path)


@pytest.mark.parametrize("keep", [0.5, 0.99, 0.0])
def test_checkpoint_truncated_raises(saved, keep):
    path, *_ = saved
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match=r"truncated"):
        load_checkpoint(path)


def test_checkpoint_foreign_npz_raises(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.zeros(3, np.float32))
    with pytest.raises(CheckpointError, match=r"not an a3c_native checkpoint \(no 'meta' member"):
        load_checkpoint(path)


def test_checkpoint_foreign_file_raises(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("hello, not a checkpoint\n")
    with pytest.raises(CheckpointError, match=r"not an a3c_native checkpoint \(not an .npz zip"):
        load_checkpoint(path)


def test_checkpoint_foreign_meta_format_raises(saved):
    path, *_ = saved
    rewrite(path, lambda m: m.update(format="someone-else"))
    with pytest.raises(
        CheckpointError, match=r"not an a3c_native checkpoint \(format 'someone-else'\)"
    ):
        load_checkpoint(path)


def test_checkpoint_pickled_member_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, meta=np.array([{"__reduce__": "os.system"}], dtype=object))
    with pytest.raises(CheckpointError, match=r"pickled objects, refused"):
        load_checkpoint(path)


def test_checkpoint_newer_format_raises(saved):
    path, *_ = saved
    rewrite(path, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(
        CheckpointError,
        match=rf"stored format version {FORMAT_VERSION + 1}, expected <= {FORMAT_VERSION}.*upgrade",
    ):
        load_checkpoint(path)


def test_checkpoint_wrong_arch_raises(saved):
    path, *_ = saved
    with pytest.raises(CheckpointError, match=r"stored arch 'a3c', expected 'nature'"):
        load_checkpoint(path, arch="nature")


def test_checkpoint_wrong_action_count_raises(saved):
    path, *_ = saved
    with pytest.raises(CheckpointError, match=r"stored num_actions 6, expected 4"):
        load_checkpoint(path, num_actions=4)


def test_checkpoint_wrong_obs_shape_raises(saved):
    path, *_ = saved
    with pytest.raises(
        CheckpointError, match=r"stored obs_shape \(4, 36, 36\), expected \(4, 84, 84\)"
    ):
        load_checkpoint(path, obs_shape=(4, 84, 84))


def test_checkpoint_layout_mismatch_raises(saved):
    path, *_ = saved
    rewrite(path, lambda m: m.update(layout_sha256="0" * 64))
    with pytest.raises(CheckpointError, match=r"stored layout hash '0+', expected '[0-9a-f]{64}'"):
        load_checkpoint(path)


def test_checkpoint_size_mismatch_raises(saved):
    path, *_ = saved
    rewrite(path, lambda m: m.update(num_actions=5))  # params no longer fit the network
    with pytest.raises(CheckpointError, match=r"stored parameter count \d+, expected \d+"):
        load_checkpoint(path)


# --- forged arrays: metadata edited to match, or .npy headers that lie -------------------------
# The loader reads each member's dtype and shape from its .npy header and checks them against
# the network the metadata describes, and against the zip directory, before reading its data.


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def forge(path: Path, name: str, a: np.ndarray) -> None:
    """Replace array `name` and make the metadata agree with it (dtype, shape, sha256)."""

    def edit(meta):
        meta["arrays"][name] = {"dtype": str(a.dtype), "shape": list(a.shape), "sha256": _sha(a)}

    rewrite(path, edit, {name: a})


def npy(shape: tuple[int, ...], dtype, data: bytes) -> bytes:
    """A .npy member whose header says `shape`/`dtype`, followed by `data` (any length)."""
    buf = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": shape}  # fmt: skip
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + data


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name + ".npy", data)


def members_of(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def meta_blob(meta: dict) -> bytes:
    return json.dumps(meta).encode()


@pytest.mark.parametrize(
    ("name", "dtype"),
    [("params", np.float64), ("params", np.int32), ("rms", np.float16), ("params", ">f4")],
)
def test_checkpoint_forged_array_dtype_rejected(saved, name, dtype):
    path, *_ = saved
    forge(path, name, members_of(path)[name].astype(dtype))
    with pytest.raises(
        CheckpointError, match=rf"array '{name}': stored dtype {np.dtype(dtype)}, expected float32$"
    ):
        load_checkpoint(path)


def test_checkpoint_forged_array_shape_rejected(saved):
    path, net, params, _ = saved
    forge(path, "params", params.reshape(1, -1))
    n = net.num_params
    with pytest.raises(
        CheckpointError, match=rf"array 'params': stored shape \(1, {n}\), expected \({n},\)$"
    ):
        load_checkpoint(path)


def test_checkpoint_forged_array_length_rejected(saved):
    path, net, _, rms = saved
    forge(path, "rms", np.concatenate([rms, rms[:3]]))
    with pytest.raises(
        CheckpointError,
        match=rf"array 'rms': stored parameter count {net.num_params + 3}, "
        rf"expected {net.num_params}$",
    ):
        load_checkpoint(path)


def test_checkpoint_header_claiming_terabytes_refused_before_allocating(saved):
    path, net, params, _ = saved
    members = members_of(path)
    meta = json.loads(members["meta"].tobytes())
    meta["arrays"]["params"]["shape"] = [2**40]  # the metadata agrees with the forged header
    write_zip(path, {
        "meta": npy((len(meta_blob(meta)),), np.uint8, meta_blob(meta)),
        "params": npy((2**40,), np.float32, params.tobytes()),  # 4 TiB claimed, 2.7 MB held
    })  # fmt: skip
    tracemalloc.start()
    try:
        with pytest.raises(
            CheckpointError,
            match=rf"array 'params': stored parameter count {2**40}, expected {net.num_params}$",
        ):
            load_checkpoint(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"peak allocation {peak:,} bytes while refusing the header"


def test_checkpoint_metadata_header_claiming_terabytes_refused(saved):
    path, *_ = saved
    members = members_of(path)
    blob = members["meta"].tobytes()
    write_zip(path, {"meta": npy((2**42,), np.uint8, blob), "params": npy(
        members["params"].shape, np.float32, members["params"].tobytes())})  # fmt: skip
    with pytest.raises(
        CheckpointError,
        match=r"corrupt metadata \(stored size 4,398,046,511,104 bytes, "
        r"expected at most 16,777,216\)",
    ):
        load_checkpoint(path)


@pytest.mark.parametrize("name", ["meta", "params"])
def test_checkpoint_header_disagreeing_with_zip_directory_refused(saved, name):
    # Headers that fit every bound but claim more data than the member holds: a truncated
    # member inside an otherwise valid zip (CRC and all).
    path, *_ = saved
    members = members_of(path)
    raw = {k: npy(v.shape, v.dtype, v.tobytes()) for k, v in members.items()}
    a = members[name]
    raw[name] = npy(a.shape, a.dtype, a.tobytes()[:-100])
    write_zip(path, raw)
    held = a.nbytes - 100
    with pytest.raises(
        CheckpointError,
        match=rf"member {name}\.npy is corrupt: its header claims {a.nbytes:,} data bytes, "
        rf"the zip directory {held:,}$",
    ):
        load_checkpoint(path)


def test_checkpoint_read_through_headers_still_loads_a_compressed_npz(saved):
    # np.savez_compressed files hold the same members, deflated: sizes are checked on the
    # uncompressed data, so such a file (e.g. re-packed by a user) still loads.
    path, _, params, rms = saved
    members = members_of(path)
    np.savez_compressed(path, **members)
    c = load_checkpoint(path)
    np.testing.assert_array_equal(c.params, params)
    np.testing.assert_array_equal(c.rms, rms)
    assert c.params.flags.writeable


def test_checkpoint_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nope.npz")


# --- resuming ---------------------------------------------------------------------------------


def test_train_run_dir_files_and_resume_continue_steps_and_schedule(tmp_path):
    cfg = cartpole_cfg(tmp_path, total_steps=3000)
    first = train(cfg)
    run = Path(cfg.run_dir)
    assert {p.name for p in run.iterdir()} >= {
        "checkpoint.npz",
        "config.json",
        "episodes.csv",
        "tb",
    }
    assert json.loads((run / "config.json").read_text()) == cfg.to_dict()
    c = load_checkpoint(run / "checkpoint.npz")
    assert c.step == first.total_steps
    np.testing.assert_array_equal(c.params, first.params)
    np.testing.assert_array_equal(c.rms, first.rms)
    assert c.episodes == len(first.episodes)

    seen = []
    # Progress every millisecond: 3,000 steps can take less than the default interval, and the
    # run then ended before its first callback (seen once in CI).
    cfg2 = A3CConfig.from_dict({**cfg.to_dict(), "total_steps": 6000, "log_interval_seconds": 0.001}, env_fn=cartpole)
    second = train(cfg2, resume=run / "checkpoint.npz", callback=seen.append)
    assert second.total_steps >= 6000
    assert second.run_steps == second.total_steps - first.total_steps
    # The lr schedule continues from the stored step: lr = lr0 * max(0, 1 - T / total_steps)
    # (0 once T passes total_steps: on a fast machine the first callback can be the run's end).
    p = seen[0]
    assert p.steps > first.total_steps
    assert p.lr == pytest.approx(cfg2.lr * max(0.0, 1 - p.steps / cfg2.total_steps), rel=1e-6, abs=1e-12)
    c2 = load_checkpoint(run / "checkpoint.npz")
    assert c2.step == second.total_steps
    assert c2.episodes == len(first.episodes) + len(second.episodes)
    assert c2.seconds == pytest.approx(c.seconds + second.seconds, rel=1e-6)
    with (run / "episodes.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == c2.episodes
    steps = [int(r["step"]) for r in rows]
    assert (
        max(steps[: len(first.episodes)]) <= first.total_steps < min(steps[len(first.episodes) :])
    )
    walls = [float(r["wall_time"]) for r in rows]
    assert min(walls[len(first.episodes) :]) >= c.seconds - 1e-3  # wall time continues too


def test_resume_continues_the_lr_time_schedule(tmp_path):
    # The checkpoint's training seconds count toward lr_anneal_seconds: a resumed run does not
    # restart the anneal (learn() trains in resumed chunks).
    cfg = cartpole_cfg(tmp_path, total_steps=10**9, lr_anneal_seconds=10.0, max_seconds=1.0)
    train(cfg)
    done = load_checkpoint(Path(cfg.run_dir) / "checkpoint.npz").seconds
    assert done >= 1.0
    seen = []
    train(cfg, resume=Path(cfg.run_dir) / "checkpoint.npz", callback=seen.append)
    for p in seen:
        expected = cfg.lr * (1 - (done + p.seconds) / 10.0)
        assert p.lr == pytest.approx(expected, abs=cfg.lr * 1e-3)


def test_train_resume_from_result_state_matches_params(tmp_path):
    cfg = cartpole_cfg(tmp_path, total_steps=2000)
    train(cfg)
    # Resuming with zero further steps allowed is refused with the step count named.
    with pytest.raises(
        ConfigError, match=r"at step 2,0\d\d, which already reaches A3CConfig.total_steps=2,000"
    ):
        train(cfg, resume=Path(cfg.run_dir) / "checkpoint.npz")


def test_train_refuses_to_overwrite_a_run_dir(tmp_path):
    cfg = cartpole_cfg(tmp_path, total_steps=1000)
    train(cfg)
    with pytest.raises(ConfigError, match=r"already holds a run .*resume"):
        train(cfg)


def test_train_resume_wrong_arch_raises(tmp_path):
    cfg = cartpole_cfg(tmp_path, total_steps=1000)
    train(cfg)
    other = cartpole_cfg(total_steps=5000, hidden=(32, 32))
    with pytest.raises(CheckpointError, match=r"stored hidden \(64, 64\), expected \(32, 32\)"):
        train(other, resume=Path(cfg.run_dir) / "checkpoint.npz")


def test_train_resume_wrong_env_raises(tmp_path):
    cfg = cartpole_cfg(tmp_path, total_steps=1000)
    train(cfg)
    other = cartpole_cfg(total_steps=5000, env_fn=acrobot)
    with pytest.raises(
        CheckpointError, match=r"stored env_fn '.*cartpole', expected env_fn '.*acrobot'"
    ):
        train(other, resume=Path(cfg.run_dir) / "checkpoint.npz")


def test_train_resume_wrong_action_count_raises(tmp_path):
    # Same env_fn name, different env behind it: caught by the env's shapes.
    net = Network("mlp", (4,), 3)
    path = save_checkpoint(tmp_path / "c.npz", net, net.init_params(0), step=10)
    with pytest.raises(CheckpointError, match=r"stored num_actions 3, expected 2"):
        train(cartpole_cfg(total_steps=5000), resume=path)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        ("params", r"its params array: 2 of [\d,]+ values are not finite \(first at index 3: nan\)"),
        ("rms", r"its rms array: 2 of [\d,]+ values are negative or not finite \(first at index 3: -1\.0\)"),
    ],
)  # fmt: skip
def test_train_resume_rejects_non_finite_params_or_negative_rms(tmp_path, array, message):
    # A user-made checkpoint: valid file, but every update from it would be skipped.
    net = Network("mlp", (4,), 2)
    params = net.init_params(0)
    rms = np.zeros_like(params)
    bad = params if array == "params" else rms
    bad[3], bad[8] = (np.nan, np.inf) if array == "params" else (-1.0, np.nan)
    path = save_checkpoint(tmp_path / "c.npz", net, params, rms=rms, step=10)
    with pytest.raises(CheckpointError, match=r"^cannot resume from '.*c\.npz': " + message):
        train(cartpole_cfg(total_steps=5000), resume=path)


def test_train_checkpoints_periodically_during_the_run(tmp_path):
    cfg = cartpole_cfg(tmp_path, total_steps=20_000, checkpoint_every_steps=2000)
    path = Path(cfg.run_dir) / "checkpoint.npz"
    seen = []  # (progress step, checkpoint step) at each callback
    r = train(cfg, callback=lambda p: seen.append((p.steps, load_checkpoint(path).step)))
    # The file exists from before the pool starts (the first callback can load it): step 0, or
    # already a periodic save if the first interval ran >= 2000 steps (a fast machine).
    assert seen[0][1] == 0 or 2000 <= seen[0][1] <= seen[0][0]
    assert all(ck <= st for st, ck in seen)
    steps_seen = [ck for _, ck in seen]
    middle = {s for s in steps_seen if 0 < s < r.total_steps}
    assert middle, f"no mid-run checkpoint: {steps_seen}"
    assert load_checkpoint(path).step == r.total_steps


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
def test_train_sigterm_stops_saves_and_restores_handler(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    cfg = cartpole_cfg(tmp_path, total_steps=100_000_000)
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        r = train(cfg)
    finally:
        timer.cancel()
    assert r.interrupted
    assert r.total_steps < 100_000_000
    assert load_checkpoint(Path(cfg.run_dir) / "checkpoint.npz").step == r.total_steps
    assert signal.getsignal(signal.SIGTERM) == before
