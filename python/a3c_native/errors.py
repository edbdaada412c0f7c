"""Exceptions raised by a3c_native's Python layer.

Each names what was wrong and what to do next. The native core raises the builtin types
(`ValueError` from `std::invalid_argument`, `RuntimeError`); these subclasses keep them
catchable with a plain `except ValueError` / `except RuntimeError`.
"""

from __future__ import annotations

__all__ = ["CheckpointError", "ClusterError", "ConfigError", "EnvError"]


class ConfigError(ValueError):
    """An `A3CConfig` field (or a dict/CLI value mapped onto one) is invalid; the message names
    `A3CConfig.<field>=<value>` and the rule it breaks."""


class EnvError(RuntimeError):
    """An environment cannot be built or used: unknown Atari game (with close matches),
    unsupported gymnasium action/observation space, or an observation of the wrong shape.
    Exceptions raised by a user's own env code are not wrapped in this: they propagate as is."""


class CheckpointError(ValueError):
    """A checkpoint is unreadable, corrupt or incompatible (format version, architecture,
    action count); the message says "stored X, expected Y"."""


class ClusterError(RuntimeError):
    """The cluster mode (A3CConfig.ray_address) cannot go on: every node died, or the
    parameter server did; the message says which, and the last checkpoint is kept."""
