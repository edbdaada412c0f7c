"""The ``a3c-native`` command line: train, learn, eval, play --record, plot, bench.

Built on click (declarative commands/options, generated ``--help`` for every subcommand,
typed parsing, clean exit codes). Every option maps onto an `A3CConfig` field or a keyword of
the library call it wraps; this file only assembles those and prints. User errors (bad config,
checkpoint, game, missing file) end as ONE line on stderr, "Error: ...", with exit code 1
(usage errors: 2); set A3C_NATIVE_DEBUG=1 to get the traceback instead.

Config sources for ``train`` and ``learn``, lowest first (presets.py): the A3CConfig defaults
< the env's family preset (atari; classic_control for vector observations) < the resumed
checkpoint's config (instead of the family preset) < --preset < --config FILE.toml < --set
KEY=VALUE < the dedicated options (--threads, --steps, ...). A run logs the sources that
applied and the fields they changed from the defaults before it starts.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click
import gymnasium.error

from ._core import __version__
from .checkpoint import load_checkpoint
from .config import ARCHS, METHODS, A3CConfig
from .errors import CheckpointError, ClusterError, ConfigError, EnvError
from .games import env_fn_from_saved, resolve_env
from .policy import EVAL_EPSILON
from .presets import Sources, changed_fields, resolve_sources
from .rundir import CHECKPOINT_FILE, COMPARISON_PNG, default_run_dir, read_config, run_dir_of

__all__ = ["cli", "main", "resolve_config"]

log = logging.getLogger("a3c_native")

# The library's user-facing errors; gymnasium.error.Error covers e.g. a missing render extra.
_USER_ERRORS = (
    ConfigError, CheckpointError, ClusterError, EnvError, ValueError, OSError, ImportError, TypeError,
    gymnasium.error.Error,
)  # fmt: skip

def _setup_logging() -> None:
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


class _Group(click.Group):
    """Turns the library's user-facing errors into one "Error: ..." line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _USER_ERRORS as e:
            if os.environ.get("A3C_NATIVE_DEBUG"):
                raise
            text = " ".join(str(e).split()) or type(e).__name__
            if isinstance(e, OSError) and e.filename is not None and str(e.filename) not in text:
                text = f"{text}: {e.filename}"
            raise click.ClickException(text) from None


@click.group(
    cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="a3c-native")
def cli() -> None:
    """A3C (Mnih et al. 2016) on CPU: train Atari agents with native Hogwild threads.

    \b
    a3c-native train pong --minutes 10 --out runs/pong     # Ctrl-C stops and saves
    a3c-native train --resume runs/pong/checkpoint.npz     # continue it
    a3c-native learn pong --out runs/learn-pong            # 30-min benchmark with evaluations
    a3c-native eval runs/pong/checkpoint.npz               # 10 full games, real scores
    a3c-native plot runs/pong                              # runs/pong/learning_curve.png
    a3c-native play runs/pong/checkpoint.npz --record pong.mp4
    """
    _setup_logging()


# ---------------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------------


def resolve_config(
    game: str | None,
    *,
    config_file: Path | None = None,
    preset: str | None = None,
    sets: tuple[str, ...] = (),
    resume: Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> tuple[A3CConfig, Sources]:
    """The run's A3CConfig from its sources (presets.resolve_sources, in the module docstring's
    order), with the default run directory runs/<game>-<time>; and the sources that applied."""
    src = resolve_sources(game, config_file=config_file, preset=preset, sets=sets, resume=resume,
                          overrides=overrides)  # fmt: skip
    if src.fields.get("run_dir") is None:
        src.fields["run_dir"] = str(default_run_dir(str(src.fields.get("game", A3CConfig.game))))
    return A3CConfig.from_dict(src.fields, env_fn=src.env_fn), src


def _net_and_method(cfg: A3CConfig) -> str:
    """'a3c' for the default method, 'n_step_q a3c' (method, then arch) for the others."""
    return cfg.arch if cfg.method == "a3c" else f"{cfg.method} {cfg.arch}"


def _workers(cfg: A3CConfig) -> str:
    """'2 threads x 8 envs', or in the cluster mode '2 nodes x 1 threads x 8 envs' (nodes 0:
    'Ray nodes', one per node of the cluster)."""
    where = ""
    if cfg.ray_address is not None:
        where = f"{cfg.nodes or 'Ray'} nodes (Ray at {cfg.ray_address}) x "
    return f"{where}{cfg.threads} threads x {cfg.envs_per_thread} envs"


def _log_config(cfg: A3CConfig, src: Sources) -> None:
    """Two lines before a run: its sources, lowest first, and what they changed."""
    log.info("config: %s", " < ".join(["A3CConfig defaults", *src.applied]))
    shown_elsewhere = ("game", "env_fn", "run_dir")  # on the "training ..." line
    changed = {k: v for k, v in changed_fields(cfg).items() if k not in shown_elsewhere}
    log.info("changed from the defaults: %s",
             ", ".join(f"{k}={v!r}" for k, v in changed.items()) or "nothing")  # fmt: skip


_preset_option = click.option(
    "--preset",
    "-p",
    help="A named set of A3CConfig fields shipped with the package, above the env's family "
    "preset (atari, classic_control) and below --config and --set (a2c: one learner thread, "
    "16 envs on every core).",
)

_method_option = click.option(
    "--method",
    "-m",
    type=click.Choice(list(METHODS)),
    help="The paper's method [default: a3c]; one_step_q, one_step_sarsa and n_step_q learn "
    "action values with a shared target network and epsilon-greedy exploration.",
)

_envs_option = click.option(
    "--envs-per-thread",
    "-k",
    "envs_per_thread",
    type=click.IntRange(min=1, max=1024),
    help="Environments each actor-learner steps together (batched forward, one update per "
    "rollout) [default: the config's].",
)


def _ray_options(f: Any) -> Any:
    """--ray, --nodes, --sync-interval: the cluster mode (A3CConfig.ray_address, nodes,
    sync_interval_seconds)."""
    f = click.option(
        "--sync-interval",
        type=click.FloatRange(min=0, min_open=True),
        help="Cluster mode: seconds between a node's exchanges with the parameter server [default: 1].",
    )(f)
    f = click.option(
        "--nodes",
        type=click.IntRange(min=1),
        help="Cluster mode: node actors of --threads actor-learners each [default: one per Ray node "
        "with --threads CPUs; with --ray local, CPUs // threads].",
    )(f)
    return click.option(
        "--ray",
        "ray_address",
        metavar="ADDRESS",
        help="Train on a Ray cluster, one Hogwild pool per node and a parameter server: auto (the "
        "cluster this machine joined with `ray start`), HOST:PORT (its head), or local (simulated "
        "nodes on this machine); none: this machine only (e.g. to resume a cluster run here). "
        'Needs pip install ".[ray]".',
    )(f)


def _ray_overrides(ray_address: str | None, nodes: int | None, sync_interval: float | None) -> dict[str, Any]:
    if ray_address == "none":  # applied after the config is resolved: _one_machine
        ray_address = None
    return {"ray_address": ray_address, "nodes": nodes, "sync_interval_seconds": sync_interval}


def _one_machine(cfg: A3CConfig, ray_address: str | None) -> A3CConfig:
    """--ray none: a run on this machine whatever the sources say (e.g. resuming a cluster run's
    checkpoint, whose config names its cluster). None cannot be written in TOML or --set."""
    if ray_address != "none":
        return cfg
    return dataclasses.replace(cfg, ray_address=None, nodes=0)


@cli.command()
@click.argument("game", required=False)
@click.option(
    "--threads", "-t", type=click.IntRange(min=1), help="Actor-learner threads [default: 2]."
)
@_envs_option
@_method_option
@_preset_option
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    help="Total agent steps; the lr anneals to 0 there [default: 6_000_000, or the env's "
    "family preset's].",
)
@click.option(
    "--minutes",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after this many minutes of this session (whichever of --steps/--minutes comes first).",
)
@click.option(
    "--out",
    "-o",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory [default: runs/<game>-<time>; with --resume: the checkpoint's directory].",
)
@click.option(
    "--config",
    "-c",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML file of A3CConfig fields (flat: lr = 1e-3).",
)
@click.option(
    "--set",
    "-s",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override any A3CConfig field (TOML value syntax; repeatable).",
)
@click.option(
    "--resume",
    "-r",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Continue from this checkpoint (its config is the base).",
)
@click.option(
    "--arch",
    type=click.Choice(list(ARCHS)),
    help="Network [default: a3c; mlp for vector envs]; the _lstm archs add an LSTM before the heads.",
)
@click.option("--seed", type=click.IntRange(min=0), help="Run seed [default: 0].")
@click.option(
    "--lr", type=float, help="Initial learning rate [default: 7e-4, or the env's family preset's]."
)
@click.option(
    "--checkpoint-minutes",
    type=click.FloatRange(min=0),
    help="Checkpoint every this many minutes [default: 1].",
)
@_ray_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
def train(ctx: click.Context, game: str | None, threads: int | None, envs_per_thread: int | None,
          method: str | None, preset: str | None, steps: int | None, minutes: float | None,
          out: Path | None, config_file: Path | None, sets: tuple[str, ...], resume: Path | None,
          arch: str | None, seed: int | None, lr: float | None, checkpoint_minutes: float | None,
          ray_address: str | None, nodes: int | None, sync_interval: float | None,
          quiet: bool) -> None:  # fmt: skip
    """Train on GAME (an Atari ROM id such as pong, breakout, ms_pacman, or a gymnasium id such
    as CartPole-v1) and write checkpoints and logs into the run directory.

    The settings start from GAME's family preset (a3c_native/presets/): atari, i.e. the
    A3CConfig defaults, for Atari games and image observations; classic_control (the mlp and
    the settings measured on CartPole) for vector observations. The run prints the sources
    that applied and the fields they changed.

    Ctrl-C (or SIGTERM) stops the run and saves its checkpoint; --resume continues it with the
    same parameters, optimizer statistics and step count (so the lr schedule goes on).
    """
    from .train import train as run_training

    overrides = {
        "threads": threads,
        "envs_per_thread": envs_per_thread,
        "method": method,
        "total_steps": steps,
        "max_seconds": minutes * 60 if minutes is not None else None,
        "run_dir": str(out) if out is not None else None,
        "arch": arch,
        "seed": seed,
        "lr": lr,
        "checkpoint_every_seconds": checkpoint_minutes * 60
        if checkpoint_minutes is not None
        else None,
        **_ray_overrides(ray_address, nodes, sync_interval),
    }
    cfg, src = resolve_config(game, config_file=config_file, preset=preset, sets=sets,
                              resume=resume, overrides=overrides)  # fmt: skip
    cfg = _one_machine(cfg, ray_address)
    _log_config(cfg, src)
    what = cfg.to_dict()["env_fn"] or cfg.game
    verb = f"resuming {resume} on" if resume else "training"
    log.info("%s %s: %s, %s, %s steps -> %s", verb, what, _net_and_method(cfg), _workers(cfg),
             f"{cfg.total_steps:,}", cfg.run_dir)  # fmt: skip
    try:
        result = run_training(cfg, resume=resume, progress_bar=not quiet)
    finally:
        _ignore_late_signals(ctx)
    ckpt = Path(cfg.run_dir) / CHECKPOINT_FILE  # type: ignore[arg-type]
    score = result.mean_score()
    click.echo(
        f"{'interrupted' if result.interrupted else 'done'} at step {result.total_steps:,}: "
        f"{result.run_steps:,} steps in {result.seconds:.0f} s ({result.steps_per_sec:,.0f}/s), "
        f"{len(result.episodes)} games, last-10 mean score "
        f"{'-' if score is None else f'{score:.1f}'}"
    )
    click.echo(f"checkpoint: {ckpt}")
    click.echo(
        f"next: a3c-native train --resume {ckpt} | a3c-native eval {ckpt} | a3c-native plot {cfg.run_dir}"
    )


@cli.command()
@click.argument("game", default="pong")
@click.option(
    "--minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Training wall-clock budget (evaluation time not counted).",
)
@click.option(
    "--eval-every",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Minutes of training between evaluations of the checkpoint.",
)
@click.option(
    "--eval-episodes",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Full games per evaluation (no-op starts).",
)
@click.option(
    "--target",
    type=float,
    help="Report when the moving mean of 10 training games first reaches this score "
    "[default: 18 for pong, none otherwise].",
)
@click.option(
    "--out",
    "-o",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory; an existing run there is continued [default: runs/<game>-<time>].",
)
@click.option("--threads", "-t", type=click.IntRange(min=1), help="Actor-learner threads [default: 2].")
@_envs_option
@_method_option
@_preset_option
@click.option("--steps", type=click.IntRange(min=1), help="A3CConfig.total_steps (the lr schedule).")
@click.option("--seed", type=click.IntRange(min=0), help="Run seed [default: 0].")
@click.option(
    "--config",
    "-c",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML file of A3CConfig fields.",
)
@click.option("--set", "-s", "sets", multiple=True, metavar="KEY=VALUE", help="Override any A3CConfig field.")
@_ray_options
def learn(game: str, minutes: float, eval_every: float, eval_episodes: int, target: float | None,
          out: Path | None, threads: int | None, envs_per_thread: int | None, method: str | None,
          preset: str | None, steps: int | None, seed: int | None, config_file: Path | None,
          sets: tuple[str, ...], ray_address: str | None, nodes: int | None,
          sync_interval: float | None) -> None:  # fmt: skip
    """The learning benchmark: train GAME for --minutes, evaluating the checkpoint every
    --eval-every minutes; write eval.csv and learning_curve.png beside the run's logs.

    \b
    a3c-native learn pong --out runs/learn-pong            # the 30-minute Pong benchmark
    """
    from .learning import learn as run_learning

    overrides = {"threads": threads, "envs_per_thread": envs_per_thread, "method": method,
                 "total_steps": steps, "seed": seed, "run_dir": str(out) if out is not None else None,
                 **_ray_overrides(ray_address, nodes, sync_interval)}  # fmt: skip
    cfg, src = resolve_config(game, config_file=config_file, preset=preset, sets=sets,
                              overrides=overrides)  # fmt: skip
    cfg = _one_machine(cfg, ray_address)
    _log_config(cfg, src)
    if target is None and cfg.env_fn is None and cfg.game == "pong":
        target = 18.0
    log.info("learning %s for %g min: %s, %s -> %s", cfg.to_dict()["env_fn"] or cfg.game, minutes,
             _net_and_method(cfg), _workers(cfg), cfg.run_dir)  # fmt: skip
    report = run_learning(cfg, minutes=minutes, eval_every_minutes=eval_every,
                          eval_episodes=eval_episodes, target=target, log=click.echo)  # fmt: skip
    click.echo(report.summary())


# ---------------------------------------------------------------------------------------------
# eval / play
# ---------------------------------------------------------------------------------------------


def _policy_env(checkpoint: Path, game: str | None, **gym_kwargs: Any) -> dict[str, Any]:
    """game=/env_fn= for evaluate/record: the given game, else the checkpoint's."""
    if game is not None:
        name, env_fn = resolve_env(game, **gym_kwargs)
        return {"env_fn": env_fn} if env_fn is not None else {"game": name}
    saved = load_checkpoint(checkpoint).config.get("env_fn")
    return {"env_fn": env_fn_from_saved(saved, **gym_kwargs)} if saved else {}


_checkpoint_arg = click.argument(
    "checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
_greedy_opt = click.option(
    "--greedy", is_flag=True, help="Argmax actions [default: sampled from the policy; epsilon-greedy "
    f"with epsilon {EVAL_EPSILON:g} for a value-based checkpoint]."
)


@cli.command("eval")
@_checkpoint_arg
@click.option("--game", "-g", help="Game or gymnasium id [default: the checkpoint's].")
@click.option(
    "--episodes",
    "-n",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Full games to play.",
)
@click.option(
    "--threads",
    "-t",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Games played in parallel.",
)
@_greedy_opt
@click.option(
    "--noop-max",
    type=click.IntRange(min=0),
    default=30,
    show_default=True,
    help="Random no-op starts (Atari).",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def eval_cmd(checkpoint: Path, game: str | None, episodes: int, threads: int, greedy: bool,
             noop_max: int, seed: int, as_json: bool) -> None:  # fmt: skip
    """Play full games with CHECKPOINT's policy; print real (unclipped) scores."""
    from .evaluate import evaluate

    r = evaluate(checkpoint, **_policy_env(checkpoint, game), episodes=episodes, threads=threads,
                 greedy=greedy, noop_max=noop_max, seed=seed)  # fmt: skip
    if as_json:
        fields = ("mean", "median", "std", "min", "max")
        out = {k: getattr(r, k) for k in fields} | {
            "scores": r.scores.tolist(), "lengths": r.lengths.tolist(), "greedy": r.greedy,
            "seconds": r.seconds,
        }  # fmt: skip
        click.echo(json.dumps(out))
    else:
        click.echo("scores: " + " ".join(f"{s:g}" for s in r.scores))
        click.echo(r.summary())


@cli.command()
@_checkpoint_arg
@click.option(
    "--record",
    "-r",
    "record_to",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Video file to write: .mp4 or .gif.",
)
@click.option("--game", "-g", help="Game or gymnasium id [default: the checkpoint's].")
@_greedy_opt
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--max-steps",
    type=click.IntRange(min=1),
    default=27_000,
    show_default=True,
    help="Stop after this many agent steps.",
)
@click.option(
    "--fps",
    type=click.FloatRange(min=0, min_open=True),
    help="Frames per second [default: real time].",
)
@click.option(
    "--scale", type=click.IntRange(min=1), help="Pixel upscaling [default: 2 for mp4, 1 for gif]."
)
def play(checkpoint: Path, record_to: Path, game: str | None, greedy: bool, seed: int,
         max_steps: int, fps: float | None, scale: int | None) -> None:  # fmt: skip
    """Play one game with CHECKPOINT's policy and record it (full-colour frames)."""
    from .record import record

    r = record(checkpoint, record_to, **_policy_env(checkpoint, game, render_mode="rgb_array"),
               greedy=greedy, seed=seed, max_steps=max_steps, fps=fps, scale=scale)  # fmt: skip
    click.echo(f"score {r.score:g} in {r.steps} steps; {r.frames} frames written to {r.path}")


# ---------------------------------------------------------------------------------------------
# plot / bench
# ---------------------------------------------------------------------------------------------


@cli.command()
@click.argument("runs", metavar="RUN...", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))  # fmt: skip
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PNG to write [default: RUN/learning_curve.png; for several runs, comparison.png "
    "in the directory holding the first].",
)
@click.option(
    "--window",
    "-w",
    type=click.IntRange(min=1),
    help="Games in the moving average [default: 100; for several runs, 10].",
)
def plot(runs: tuple[Path, ...], out: Path | None, window: int | None) -> None:
    """Learning curve of RUN (a run directory or its episodes.csv): score vs steps and vs time,
    with the evaluations of RUN/eval.csv when there is one (a3c-native learn writes it).

    Several RUNs: their moving averages (and evaluations) on shared axes, one colour each.
    """
    from .plotting import plot_comparison, plot_learning_curve
    from .rundir import read_evaluations

    if len(runs) > 1:
        first = run_dir_of(runs[0])
        png = plot_comparison(runs, out or first.resolve().parent / COMPARISON_PNG,
                              window=window or 10)  # fmt: skip
        click.echo(f"wrote {png}")
        return
    run = runs[0]
    run_dir = run_dir_of(run)
    cfg = read_config(run_dir)
    frame_skip = int(cfg.get("frame_skip", 1)) if not cfg.get("env_fn") else 1
    png = plot_learning_curve(run, out, window=window or 100,
                              evaluations=read_evaluations(run_dir), frame_skip=frame_skip)  # fmt: skip
    click.echo(f"wrote {png}")


@cli.command()
@click.argument("game", default="pong")
@click.option(
    "--seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Training time per measurement.",
)
@click.option(
    "--threads",
    "-t",
    "thread_counts",
    multiple=True,
    type=click.IntRange(min=1),
    help="Thread counts to measure (repeatable) [default: 1 and 2].",
)
@_envs_option
def bench(game: str, seconds: float, thread_counts: tuple[int, ...], envs_per_thread: int | None) -> None:
    """Training throughput (agent steps/s) on GAME at each thread count, with the settings of
    GAME's family preset (as `train GAME` uses).

    A quick built-in measurement; the repository's bench/ directory has the detailed
    benchmarks (kernels, env ceilings, scaling).
    """
    from .train import train as run_training

    k = {} if envs_per_thread is None else {"envs_per_thread": envs_per_thread}
    base = A3CConfig.for_env(game, total_steps=10**12, max_seconds=seconds, **k)
    click.echo(f"{'threads':>7}  {'steps/s':>9}  {'env s':>6}  {'net s':>6}  {'gil wait s':>10}")
    for t in thread_counts or (1, 2):
        r = run_training(dataclasses.replace(base, threads=t))
        tm = r.timings
        click.echo(f"{t:>7}  {r.steps_per_sec:>9,.0f}  {tm.get('env', 0):>6.1f}  "
                   f"{tm.get('net', 0):>6.1f}  {tm.get('gil_wait', 0):>10.2f}")  # fmt: skip


def _ignore_late_signals(ctx: click.Context) -> None:
    """Ignore Ctrl-C and SIGTERM once train() has returned (its checkpoint saved).

    All that is left is printing and exiting (interpreter shutdown takes ~0.1-0.2 s), and a
    late signal, typically an impatient second Ctrl-C, would turn the clean exit into
    "Aborted!" or a signal exit status. train() itself ignores it during its wind-down. Kept
    until the process exits when the CLI is the program (main()); otherwise (in-process, e.g.
    click's CliRunner) the previous handlers come back with the command's end.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    if not (ctx.find_root().obj or {}).get("program"):

        def restore() -> None:
            for s, h in old.items():
                signal.signal(s, h if h is not None else signal.SIG_DFL)

        ctx.call_on_close(restore)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``a3c-native`` console script and ``python -m a3c_native``."""
    cli.main(args=argv, prog_name="a3c-native", obj={"program": True})
