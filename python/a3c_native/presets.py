"""Config sources other than Python code: TOML files, KEY=VALUE overrides, and the named
presets shipped with the package (TOML files in ``a3c_native/presets/``).

A preset is a partial set of :class:`A3CConfig` fields, in the spirit of rl-zoo's per-env
hyperparameter files: ``a2c`` turns the actor-learners into A2C. The precedence of a run's
sources (lowest first) is: the dataclass defaults < a preset < a config file < --set < the
CLI's dedicated options. Not here: validating the values (A3CConfig does), the CLI.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["load_preset", "load_toml", "parse_value", "preset_names"]


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib


def parse_value(text: str) -> Any:
    """A --set value as TOML (numbers, true/false, [lists], "strings"), else the bare string."""
    tomllib = _toml()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load_toml(path: Path) -> dict[str, Any]:
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


def load_preset(name: str) -> dict[str, Any]:
    """The fields of preset `name`; ConfigError listing the presets if there is none such."""
    names = preset_names()
    if name not in names:
        raise ConfigError(f"unknown preset {name!r}; the presets are: {', '.join(names)}")
    text = (resources.files("a3c_native") / "presets" / f"{name}.toml").read_text()
    return _toml().loads(text)
