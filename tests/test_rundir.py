"""The run directory's files (a3c_native.rundir): config.json, episodes.csv (appended across
resumes, a killed run's torn row skipped), eval.csv, and the default run directory name."""

from __future__ import annotations

import numpy as np
import pytest

from a3c_native.rundir import (
    EPISODE_FIELDS,
    EPISODES_CSV,
    EVAL_CSV,
    EpisodeLog,
    Evaluation,
    default_run_dir,
    read_config,
    read_episodes,
    read_evaluations,
    run_dir_of,
    write_config,
    write_evaluations,
)


def test_rundir_config_round_trip(tmp_path):
    assert read_config(tmp_path) == {}
    write_config(tmp_path, {"lr": 1e-3, "hidden": [64, 64], "env_fn": None})
    assert read_config(tmp_path) == {"lr": 1e-3, "hidden": [64, 64], "env_fn": None}


def test_rundir_episode_log_appends_and_skips_a_torn_row(tmp_path):
    log = EpisodeLog(tmp_path)
    log.write([(1.23456, 200, 1, 21.0, 900, None), (0.5, 100, 0, -3.0, 800, 0.5)])
    log.close()
    with (tmp_path / EPISODES_CSV).open("a") as f:
        f.write("9.0,300,0,5")  # a run killed mid-row
    log = EpisodeLog(tmp_path)  # resumed: appends after ending the torn row
    log.write([(2.0, 400, 1, 7.0, 50, 0.01)])
    log.close()
    text = (tmp_path / EPISODES_CSV).read_text()
    assert text.splitlines()[0] == ",".join(EPISODE_FIELDS)
    assert text.count("\n") == 5
    ep = read_episodes(tmp_path)
    np.testing.assert_array_equal(ep["step"], [100, 200, 400])  # step order, torn row skipped
    np.testing.assert_array_equal(ep["score"], [-3.0, 21.0, 7.0])
    np.testing.assert_array_equal(ep["epsilon"], [0.5, np.nan, 0.01])  # None (A3C) reads as NaN
    assert ep["wall_time"][1] == 1.235


def test_rundir_a_log_from_before_the_epsilon_column_is_read_and_resumed_in_its_columns(tmp_path):
    (tmp_path / EPISODES_CSV).write_text("wall_time,step,worker,score,length\n1.000,100,0,-21.0,800\n")
    log = EpisodeLog(tmp_path)
    log.write([(2.0, 200, 1, -20.0, 900, 0.1)])
    log.close()
    lines = (tmp_path / EPISODES_CSV).read_text().splitlines()
    assert lines == ["wall_time,step,worker,score,length", "1.000,100,0,-21.0,800", "2.000,200,1,-20.0,900"]
    ep = read_episodes(tmp_path)
    assert set(ep) == set(EPISODE_FIELDS)
    np.testing.assert_array_equal(ep["score"], [-21.0, -20.0])
    assert np.isnan(ep["epsilon"]).all()


def test_rundir_read_episodes_refuses_a_foreign_csv(tmp_path):
    (tmp_path / EPISODES_CSV).write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not an a3c_native episodes log"):
        read_episodes(tmp_path / EPISODES_CSV)


def test_rundir_evaluations_round_trip(tmp_path):
    assert read_evaluations(tmp_path) == []
    evals = [Evaluation(600.0, 1000, 1.5, 0.5, 1.0, 2.0, 10),
             Evaluation(1200.0, 2000, 3, 0, 3, 3, 5)]  # fmt: skip
    assert write_evaluations(tmp_path, evals) == tmp_path / EVAL_CSV
    assert read_evaluations(tmp_path) == evals


def test_rundir_names(tmp_path):
    assert run_dir_of(tmp_path) == tmp_path
    assert run_dir_of(tmp_path / "checkpoint.npz") == tmp_path
    d = default_run_dir("ALE/Pong v5")
    assert d.parent.name == "runs" and d.name.startswith("ALE_Pong_v5-")
