"""The cluster mode from the CLI: `--ray local` (a private Ray instance with simulated nodes),
and Ctrl-C stopping every node cleanly with the checkpoint saved."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import wait_until_training

from a3c_native.checkpoint import load_checkpoint

pytest.importorskip("ray", reason='the cluster mode needs Ray: pip install ".[ray]"')

TIMEOUT = 180


def test_cli_ray_local_trains_and_ctrl_c_stops_every_node_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    ckpt = run / "checkpoint.npz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "a3c_native", "train", "CartPole-v1", "--ray", "local", "--nodes", "2", "-t", "1",
         "--sync-interval", "0.2", "--out", str(run), "--steps", "1000000000", "-q",
         "--set", "checkpoint_every_steps=20000", "--set", "log_interval_seconds=0.1"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until_training(proc, ckpt, timeout=120)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    assert "Traceback" not in err, err
    assert "2 nodes (Ray at local) x 1 threads x 4 envs" in err, err
    m = re.search(r"training interrupted at step (\d+)", err)
    assert m, err
    step = int(m.group(1))
    assert f"checkpoint at step {step} saved to {ckpt}" in err, err
    assert out.startswith(f"interrupted at step {step:,}: "), out
    assert load_checkpoint(ckpt).step == step
    assert load_checkpoint(ckpt).config["ray_address"] == "local"
    # every node process is gone with the private Ray instance
    left = subprocess.run(["pgrep", "-f", "ray::NodeActor"], capture_output=True, text=True, check=False)
    assert left.stdout.strip() == "", left.stdout
