"""The cluster mode's errors that need no cluster: Ray missing, an address nothing answers at.
(Runs after test_cluster.py's module has shut its cluster down: no Ray connection here.)"""

from __future__ import annotations

import sys
import time

import pytest

from a3c_native import A3CConfig, train
from a3c_native.errors import ConfigError


def test_a_missing_ray_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    cfg = A3CConfig.for_env("CartPole-v1", ray_address="local", nodes=2, threads=1)
    with pytest.raises(ConfigError, match=r'needs Ray: pip install "a3c_native\[ray\]"'):
        train(cfg)


def test_an_unreachable_address_fails_in_seconds_naming_the_fix() -> None:
    pytest.importorskip("ray")
    import ray

    assert not ray.is_initialized()
    cfg = A3CConfig.for_env("CartPole-v1", ray_address="127.0.0.1:1", nodes=2, threads=1)
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match=r"127\.0\.0\.1:1: cannot reach a Ray head there .*ray start --head"):
        train(cfg)
    assert time.monotonic() - t0 < 10
