"""Game and environment names: ALE ROM ids (any common spelling, close matches on a typo),
registered gymnasium ids, and `GymMake`, the env factory a config saves by name.

Owns turning what a user types ('pong', 'MsPacman', 'ALE/Pong-v5', 'CartPole-v1') into a
game or an env factory, and turning the env_fn name saved in a config.json or checkpoint back
into one. Not here: building the envs the workers step (envs.py), which defaults an env gets
(presets.py).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from a3c_native.errors import ConfigError, EnvError

__all__ = ["GymMake", "canonical_env_fn_name", "env_fn_from_saved", "gym_id_of", "resolve_env",
           "resolve_game"]  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Atari: ale-py ROM ids
# ---------------------------------------------------------------------------------------------


def _normalise_game(name: str) -> str:
    """'PongNoFrameskip-v4', 'ALE/MsPacman-v5', 'ms-pacman', 'Space Invaders' -> snake_case id."""
    s = name.strip()
    s = re.sub(r"^ALE/", "", s)
    s = re.sub(r"(NoFrameskip)?(-v\d+)?$", "", s)
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", s)  # CamelCase -> Camel_Case
    return re.sub(r"[-\s]+", "_", s).lower()


def resolve_game(name: str) -> str:
    """Return the ale-py ROM id for `name` (case, CamelCase, '-'/'_'/' ' and gymnasium-style
    'ALE/...-v5' / '...NoFrameskip-v4' spellings accepted), e.g. 'MsPacman' -> 'ms_pacman'.

    Raises EnvError naming close matches from `ale_py.roms.get_all_rom_ids()`, e.g.
    "unknown game 'pongg'; did you mean: pong?". EnvError (not ValueError) because every failure
    to build an env is one catchable type; `A3CConfig` reports the same check as a ConfigError.
    """
    from ale_py import roms

    if not isinstance(name, str) or not name.strip():
        raise EnvError(f"game must be a non-empty ROM id such as 'pong', got {name!r}")
    ids = roms.get_all_rom_ids()
    key = _normalise_game(name)
    if key in ids:
        return key
    squashed = {rom.replace("_", ""): rom for rom in ids}
    if key.replace("_", "") in squashed:
        return squashed[key.replace("_", "")]
    close = difflib.get_close_matches(key, ids, n=3, cutoff=0.6)
    hint = (
        f"did you mean: {', '.join(close)}?"
        if close
        else f"see ale_py.roms.get_all_rom_ids() for the {len(ids)} installed ROMs"
    )
    raise EnvError(f"unknown game {name!r}; {hint}")


# ---------------------------------------------------------------------------------------------
# gymnasium ids
# ---------------------------------------------------------------------------------------------


class GymMake:
    """env_fn for a registered gymnasium id: ``GymMake('CartPole-v1')()`` is
    ``gymnasium.make('CartPole-v1')``. Picklable, and saved in configs as the data
    ``"a3c_native.games:GymMake('CartPole-v1')"`` (an id, never code), so a checkpoint of a
    gymnasium run can be resumed and evaluated from the command line (`env_fn_from_saved`).

    Keyword arguments go to ``gymnasium.make`` (e.g. ``render_mode="rgb_array"`` to record);
    they are not part of the saved name.
    """

    def __init__(self, env_id: str, **kwargs: Any) -> None:
        self.env_id = env_id
        self.kwargs = kwargs
        # A3CConfig.to_dict saves an env_fn as "<module>:<qualname>": this one's names its id.
        self.__qualname__ = f"GymMake({env_id!r})"

    def __call__(self, seed: int | None = None) -> Any:
        import gymnasium

        return gymnasium.make(self.env_id, **self.kwargs)

    def __repr__(self) -> str:
        return self.__qualname__


# The name A3CConfig.to_dict gives a GymMake. The class lived in a3c_native.cli until issue 18
# moved it here; configs and checkpoints saved before that carry "a3c_native.cli:GymMake(...)".
_SAVED_GYM_MAKE = re.compile(r"^a3c_native\.(?:games|cli):GymMake\('([^']+)'\)$")


def gym_id_of(saved_env_fn: str | None) -> str | None:
    """The gymnasium id in a saved env_fn name (this module's or the former
    ``a3c_native.cli:GymMake('<id>')``), or None if the name is not a GymMake's."""
    m = _SAVED_GYM_MAKE.match(str(saved_env_fn)) if saved_env_fn else None
    return m.group(1) if m else None


def canonical_env_fn_name(saved_env_fn: str) -> str:
    """A saved env_fn name as a config saves it today: a former
    ``a3c_native.cli:GymMake('<id>')`` becomes ``a3c_native.games:GymMake('<id>')``; any other
    name is returned unchanged. Comparing saved names (resume checks) goes through this."""
    env_id = gym_id_of(saved_env_fn)
    return saved_env_fn if env_id is None else f"{__name__}:{GymMake(env_id).__qualname__}"


def env_fn_from_saved(saved_env_fn: str, **gym_kwargs: Any) -> GymMake:
    """Rebuild the env_fn a config saved by name. Only GymMake names can be rebuilt (they are
    data); any other name was a Python callable and raises ConfigError saying what to do."""
    env_id = gym_id_of(saved_env_fn)
    if env_id is None:
        msg = (
            f"this run used env_fn {saved_env_fn!r} from Python code: continue it from Python "
            "(A3CConfig.from_dict(cfg, env_fn=...)), or pass a game"
        )
        raise ConfigError(msg)
    return GymMake(env_id, **gym_kwargs)


def resolve_env(name: str, **gym_kwargs: Any) -> tuple[str, GymMake | None]:
    """What a user's env name means: ``('pong', None)`` for an Atari game (any spelling
    `resolve_game` accepts), ``(id, GymMake(id))`` for a registered gymnasium id.

    Atari comes first ('Pong-v5' is Pong, not a gymnasium lookup). Raises EnvError with the
    Atari close matches when the name is neither.
    """
    try:
        return resolve_game(name), None
    except EnvError as atari_error:
        import gymnasium

        if name in gymnasium.envs.registry:
            return name, GymMake(name, **gym_kwargs)
        raise EnvError(
            f"{atari_error} (nor is it a registered gymnasium id such as 'CartPole-v1')"
        ) from None
