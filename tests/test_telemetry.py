"""Telemetry: the progress bar follows whichever budget ends the run (steps or time), fed
Progress snapshots directly (no training, no clocks); the TensorBoard event files, read back
with TensorBoard's own protobuf schema (through tensorboardX, a test dependency); and no torch
import on the way to a run."""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
import textwrap

import pytest
from a3c_native.results import EpisodeRecord, Progress
from a3c_native.rundir import TB_DIR
from a3c_native.telemetry import Telemetry
from a3c_native.tfevents import crc32c


def progress(steps: int, seconds: float, steps_per_sec: float) -> Progress:
    return Progress(
        steps=steps, seconds=seconds, steps_per_sec=steps_per_sec, episodes=[], total_episodes=0,
        recent_score=None, policy_loss=0.0, value_loss=0.0, entropy=0.0, lr=3e-4, updates=0,
        skipped_updates=0, staleness_mean=0.0,
    )  # fmt: skip


@pytest.fixture
def bar_of():
    """bar_of(**Telemetry kwargs) -> (telemetry, its tqdm bar); closed after the test."""
    made = []

    def make(**kw):
        t = Telemetry(None, progress_bar=True, **kw)
        made.append(t)
        return t, t._bar  # the tqdm object: its total and postfix are what the user sees

    yield make
    for t in made:
        t.close()


def test_bar_counts_toward_the_time_limit_when_it_ends_the_run_first(bar_of):
    # --minutes 2 at 2,500 steps/s: the run ends near 300k steps, not at the 6M step budget
    # (the bar used to count toward 6M and show an ETA of ~40 minutes).
    tel, bar = bar_of(total_steps=6_000_000, max_seconds=120.0)
    tel.update(progress(10_000, 4.0, 2_500.0))
    assert bar.total == 10_000 + 2_500 * (120 - 4) == 300_000
    assert bar.n == 10_000
    assert "/300k" in str(bar)
    assert bar.postfix.endswith("time limit in 0:01:56")
    # The projection follows the speed...
    tel.update(progress(60_000, 24.0, 2_000.0))
    assert bar.total == 60_000 + 2_000 * 96
    assert bar.postfix.endswith("time limit in 0:01:36")
    # ...and reaches the steps done when the time is up.
    tel.update(progress(250_000, 121.0, 2_000.0))
    assert (bar.n, bar.total) == (250_000, 250_000)


def test_bar_counts_toward_total_steps_when_they_end_the_run_first(bar_of):
    tel, bar = bar_of(total_steps=200_000, max_seconds=3600.0)
    tel.update(progress(10_000, 4.0, 2_500.0))  # 200k steps at 84 s, long before 1 hour
    assert (bar.n, bar.total) == (10_000, 200_000)
    assert "time limit" not in bar.postfix


def test_bar_without_time_budget_or_speed_counts_toward_total_steps(bar_of):
    tel, bar = bar_of(total_steps=200_000)
    tel.update(progress(10_000, 4.0, 2_500.0))
    assert bar.total == 200_000
    tel, bar = bar_of(total_steps=200_000, max_seconds=60.0)
    tel.update(progress(0, 0.5, 0.0))  # no speed measured yet: nothing to project
    assert bar.total == 200_000


def test_bar_of_a_resumed_run_projects_from_the_global_step(bar_of):
    tel, bar = bar_of(total_steps=6_000_000, start_step=1_000_000, max_seconds=60.0)
    assert bar.n == 1_000_000
    tel.update(progress(1_020_000, 10.0, 2_000.0))
    assert (bar.n, bar.total) == (1_020_000, 1_020_000 + 2_000 * 50)


def test_bar_stays_at_its_total_when_workers_overshoot(bar_of):
    tel, bar = bar_of(total_steps=5_000)
    tel.update(progress(4_000, 2.0, 2_000.0))
    tel.finish([], 5_037)  # workers check the budget per rollout: a few steps past it
    assert (bar.n, bar.total) == (5_000, 5_000)


# ---------------------------------------------------------------------------------------------
# TensorBoard event files


def test_crc32c_known_value_and_agreement_with_tensorboardx():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720)
    assert crc32c(b"") == 0
    reference = pytest.importorskip("tensorboardX.crc32c")  # an independent implementation
    rng = random.Random(0)
    for n in (1, 7, 64, 1000):
        data = bytes(rng.randrange(256) for _ in range(n))
        assert crc32c(data) == reference.crc32c(data), n


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path) -> list[bytes]:
    """TFRecord framing, every length and CRC checked."""
    data = path.read_bytes()
    out, i = [], 0
    while i < len(data):
        header = data[i : i + 8]
        (n,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", data[i + 8 : i + 12])
        assert hcrc == _masked(crc32c(header)), f"length CRC at byte {i}"
        body = data[i + 12 : i + 12 + n]
        (dcrc,) = struct.unpack("<I", data[i + 12 + n : i + 16 + n])
        assert dcrc == _masked(crc32c(body)), f"data CRC at byte {i}"
        out.append(body)
        i += 16 + n
    assert i == len(data)
    return out


def test_event_file_holds_every_scalar_as_tensorboard_reads_it(tmp_path):
    event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")
    tel = Telemetry(tmp_path, total_steps=1000, tensorboard=True)
    p = Progress(
        steps=640, seconds=2.0, steps_per_sec=320.0, total_episodes=2,
        episodes=[EpisodeRecord(1.0, 300, 0, -21.0, 812), EpisodeRecord(1.5, 600, 1, 3.5, 900)],
        recent_score=-8.75, policy_loss=0.25, value_loss=1.5, entropy=1.75, lr=3e-4, updates=32,
        skipped_updates=0, staleness_mean=0.5,
    )  # fmt: skip
    tel.update(p)
    tel.close()
    files = list((tmp_path / TB_DIR).iterdir())
    assert len(files) == 1 and "tfevents" in files[0].name
    events = [event_pb2.Event.FromString(r) for r in read_records(files[0])]
    assert events[0].file_version == "brain.Event:2"
    got = [(v.tag, e.step, v.simple_value) for e in events[1:] for v in e.summary.value]
    assert got == [
        ("episode/score", 300, -21.0), ("episode/length", 300, 812.0),
        ("episode/score", 600, 3.5), ("episode/length", 600, 900.0),
        ("train/policy_loss", 640, 0.25), ("train/value_loss", 640, 1.5),
        ("train/entropy", 640, 1.75), ("train/lr", 640, pytest.approx(3e-4, rel=1e-7)),
        ("perf/steps_per_sec", 640, 320.0), ("perf/staleness_mean", 640, 0.5),
    ]  # fmt: skip
    assert all(e.wall_time > 1.6e9 for e in events)


def test_event_files_of_resumed_runs_do_not_collide(tmp_path):
    # Two runs in the same directory within the same second (a quick resume): two files.
    for _ in range(2):
        Telemetry(tmp_path, total_steps=10, tensorboard=True).close()
    assert len(list((tmp_path / TB_DIR).iterdir())) == 2


# With torch installed, tensorboardX imports it (tensorboardX/__init__ -> writer -> `import
# torch`). A stand-in torch package on the path makes any such import visible here, whether or
# not the real one is installed.
_NO_TORCH_SCRIPT = textwrap.dedent(
    """
    import sys, tempfile
    import a3c_native, a3c_native.cli, a3c_native.train
    from a3c_native.results import Progress
    from a3c_native.telemetry import Telemetry
    tel = Telemetry(tempfile.mkdtemp(), total_steps=100, tensorboard=True, progress_bar=True)
    tel.update(Progress(10, 1.0, 10.0, [], 0, None, 0.0, 0.0, 0.0, 1e-3, 1, 0, 0.0))
    tel.close()
    print(" ".join(m for m in ("torch", "tensorboardX") if m in sys.modules))
    """
)


def test_a_run_imports_neither_torch_nor_tensorboardx(tmp_path):
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    # tensorboardX's writer reads torch.Tensor at import time
    (fake / "__init__.py").write_text("class Tensor:\n    pass\n")
    path = os.pathsep.join([str(tmp_path / "fake"), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    p = subprocess.run(
        [sys.executable, "-c", _NO_TORCH_SCRIPT], capture_output=True, text=True, env=env,
        timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "", f"imported: {p.stdout.strip()}"
    # The stand-in is importable in that environment, so the check above can fail.
    probe = subprocess.run(
        [sys.executable, "-c", "import torch, sys; print(torch.__file__)"], capture_output=True,
        text=True, env=env, timeout=60, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert probe.stdout.strip() == str(fake / "__init__.py")
