"""Config sources other than Python code, and the order a run's sources apply in: the presets
shipped with the package (TOML files in ``a3c_native/presets/``), the family preset an env
gets, TOML files, KEY=VALUE overrides, a resumed checkpoint's config.

A preset is a partial set of :class:`A3CConfig` fields, in the spirit of rl-zoo's per-env
hyperparameter files. The sources of a run, lowest first:

1. the A3CConfig dataclass defaults: the Atari settings (measured on Pong);
2. the env's FAMILY preset, chosen from the env by `family_of`:
   ``atari`` for an ALE game or a gymnasium env with image observations (uint8 C x H x W: the
   conv nets; the preset is empty, the dataclass defaults are Atari's), ``classic_control``
   for a gymnasium env with vector observations (CartPole, Acrobot, ...: the mlp, with the
   settings measured on CartPole);
3. a resumed checkpoint's config (every field: it shadows 1 and 2, so the family preset is
   not applied when resuming);
4. an explicit preset (``--preset a2c``);
5. a TOML file of fields (``--config``);
6. ``--set KEY=VALUE``;
7. the CLI's dedicated options (``--threads``, ``--steps``, ``--lr``, ...).

In Python, ``A3CConfig(...)`` is source 1 alone (no preset is applied behind the user's
back); ``A3CConfig.for_env(env, **fields)`` is 1 < 2 < fields; ``A3CConfig.from_preset(name,
**fields)`` is 1 < 4 < fields. Not here: validating the values (A3CConfig does), game and env
names (games.py), the CLI's printing.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .archs import RECURRENT_ARCHS, VALUE_BASED_METHODS
from .errors import ConfigError
from .games import env_fn_from_saved, resolve_env
from .rundir import run_dir_of

__all__ = [
    "FAMILIES",
    "Sources",
    "changed_fields",
    "env_fields",
    "family_of",
    "load_preset",
    "load_toml",
    "parse_sets",
    "parse_value",
    "preset_names",
    "resolve_sources",
]

FAMILIES = ("atari", "classic_control")
"""The env families; each names the preset of the same name (`family_of` picks one)."""


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib


# ---------------------------------------------------------------------------------------------
# TOML, --set, the shipped presets
# ---------------------------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """A --set value as TOML (numbers, true/false, [lists], "strings"), else the bare string."""
    tomllib = _toml()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_sets(items: Sequence[str]) -> dict[str, Any]:
    """``("lr=1e-3", "threads=4")`` -> ``{"lr": 0.001, "threads": 4}``; ConfigError for an item
    that is not KEY=VALUE."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set lr=1e-3")
        out[key.strip()] = parse_value(value.strip())
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    """A flat TOML file of A3CConfig fields; ConfigError naming the file if it is not TOML."""
    tomllib = _toml()
    with Path(path).open("rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: invalid TOML ({e})") from None


def preset_names() -> list[str]:
    """Names of the presets shipped with the package (``a3c_native/presets/*.toml``)."""
    folder = resources.files("a3c_native") / "presets"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


VALUE_BASED_TABLE = "value_based"
"""A preset's table of the fields that apply only when the run's method is value-based."""
RECURRENT_TABLE = "recurrent"
"""A preset's table of the fields that apply only when the run's arch is a recurrent one."""


def load_preset(name: str, method: str | None = None, arch: str | None = None) -> dict[str, Any]:
    """The fields of preset `name` for a run of `method` and `arch`: its top-level fields, with
    its ``[value_based]`` table's on top when `method` is a value-based one and its
    ``[recurrent]`` table's when `arch` is a recurrent one (the settings measured for those
    on the family's envs). ConfigError listing the presets if there is none such."""
    return _preset_for(name, method, arch)[0]


def _preset_for(name: str, method: str | None, arch: str | None) -> tuple[dict[str, Any], list[str]]:
    """load_preset's fields, and the names of the tables it applied (only those the preset
    has), in the order applied."""
    names = preset_names()
    if name not in names:
        raise ConfigError(f"unknown preset {name!r}; the presets are: {', '.join(names)}")
    fields = _toml().loads((resources.files("a3c_native") / "presets" / f"{name}.toml").read_text())
    tables = {t: fields.pop(t) for t in (VALUE_BASED_TABLE, RECURRENT_TABLE) if t in fields}
    wanted = ([VALUE_BASED_TABLE] if method in VALUE_BASED_METHODS else []) + (
        [RECURRENT_TABLE] if arch in RECURRENT_ARCHS else [])  # fmt: skip
    applied = [t for t in wanted if t in tables]
    for t in applied:
        fields.update(tables[t])
    return fields, applied


# ---------------------------------------------------------------------------------------------
# The family preset of an env
# ---------------------------------------------------------------------------------------------


def family_of(game: str | None, env_fn: Callable[..., Any] | None) -> tuple[str, str]:
    """(family, why) for the env a config describes: ``("atari", ...)`` for an ALE game
    (env_fn None) or an env_fn whose observations are images, ``("classic_control", ...)``
    for an env_fn with vector observations. An env_fn is built once (seed 0) to look at its
    observation space, through the same adapter training uses (envs.GymEnv: uint8 with 3
    dimensions is an image, anything else a vector)."""
    if env_fn is None:
        return "atari", f"{game}: an ALE game" if game else "an ALE game"
    from .envs import GymEnv

    with GymEnv(env_fn, seed=0) as env:
        shape = tuple(env.obs_shape)
    name = game or getattr(env_fn, "__qualname__", "env_fn")
    if len(shape) == 3:
        return "atari", f"{name}: image observations {shape}"
    return "classic_control", f"{name}: vector observations {shape}"


def env_fields(env: str | Callable[..., Any], fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The fields `A3CConfig.for_env(env, **fields)` starts from: the env (``game`` for an ALE
    game; ``env_fn`` = GymMake(id) and ``game`` = id for a gymnasium id; ``env_fn`` for a
    callable) over its family preset (for ``fields``' method)."""
    fields = fields or {}
    if isinstance(env, str):
        game, env_fn = resolve_env(env)
    elif callable(env):
        game, env_fn = None, env
    else:
        msg = f"A3CConfig.for_env({env!r}): pass a game or gymnasium id (str) or an env factory"
        raise ConfigError(msg)
    family, _ = family_of(game, env_fn)
    d = load_preset(family, method=fields.get("method"), arch=fields.get("arch"))
    if game is not None:
        d["game"] = game
    if env_fn is not None:
        d["env_fn"] = env_fn
    return d


# ---------------------------------------------------------------------------------------------
# All the sources of a run (the CLI's train and learn)
# ---------------------------------------------------------------------------------------------


@dataclass
class Sources:
    """A run's fields merged from its sources (module docstring), before validation: build the
    config with ``A3CConfig.from_dict(sources.fields, env_fn=sources.env_fn)``."""

    fields: dict[str, Any]
    """Every field a source set, env_fn excluded (the callable is `env_fn`)."""
    env_fn: Callable[..., Any] | None
    """The rebuilt gymnasium factory (GymMake), or None for an Atari game."""
    family: str | None
    """The family preset applied (None when resuming: the checkpoint's config has every field)."""
    applied: list[str] = field(default_factory=list)
    """The sources that set fields, lowest first, e.g. ["preset classic_control
    (CartPole-v1: vector observations (4,))", "--set lr=1e-3"]."""


def resolve_sources(
    game: str | None,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    sets: Sequence[str] = (),
    resume: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Sources:
    """Merge a run's sources in the module docstring's order.

    Args:
        game: an ALE game or a gymnasium id (`games.resolve_env`); None: the one the other
            sources name (a checkpoint's env_fn or game, a file's or --set's game), else
            A3CConfig's default game.
        preset: an explicit preset name (``a2c``).
        config_file: a TOML file of fields.
        sets: ``KEY=VALUE`` items.
        resume: a checkpoint whose config is the base (and whose directory is the run_dir).
        overrides: fields of the CLI's dedicated options; None values are not set.
    """
    layers: list[tuple[str, dict[str, Any]]] = []
    if resume is not None:
        from .checkpoint import load_checkpoint

        # a checkpoint lives in its run directory
        saved = {**load_checkpoint(resume).config, "run_dir": str(run_dir_of(resume))}
        layers.append((f"checkpoint {resume}", saved))
    if preset is not None:
        layers.append((f"preset {preset}", load_preset(preset)))
    if config_file is not None:
        layers.append((f"--config {config_file}", load_toml(config_file)))
    if sets:
        layers.append(("--set " + " ".join(sets), parse_sets(sets)))
    options = {k: v for k, v in (overrides or {}).items() if v is not None}
    if options:
        layers.append(("options " + ", ".join(options), options))
    d: dict[str, Any] = {}
    for _, fields in layers:
        d.update(fields)
    applied = [name for name, fields in layers if fields]

    if game is not None:
        d["game"] = game
        d.pop("env_fn", None)
    saved_fn = d.pop("env_fn", None)
    env_fn = None
    if saved_fn:
        env_fn = env_fn_from_saved(str(saved_fn))
    elif "game" in d:
        d["game"], env_fn = resolve_env(str(d["game"]))

    family = None
    if resume is None:
        family, why = family_of(d.get("game"), env_fn)
        preset, tables = _preset_for(family, d.get("method"), d.get("arch"))
        d = {**preset, **d}
        with_tables = f" with its {' and '.join(f'[{t}]' for t in tables)} table{'s' * (len(tables) > 1)}" if tables else ""
        applied.insert(0, f"preset {family}{with_tables} ({why})")
    return Sources(fields=d, env_fn=env_fn, family=family, applied=applied)


def changed_fields(cfg: Any) -> dict[str, Any]:
    """The fields of an A3CConfig that differ from the dataclass defaults, in declaration
    order (what a run's sources changed; the CLI prints them at the start of a run)."""
    out = {}
    for f in dataclasses.fields(cfg):
        if f.default is not dataclasses.MISSING:
            default = f.default
        else:
            default = f.default_factory()  # type: ignore[misc]
        value = getattr(cfg, f.name)
        if value != default:
            out[f.name] = value
    return out
