"""Sweeps: seeds are replicates, and every run is its own point of the fitted curve."""

import numpy as np
import pytest
from synthetic_runs import write_train_run

from eoss.analysis.study.inputs import discover_inputs
from eoss.analysis.study.study import analyse


def _gap(b: float) -> float:
    return 0.3 * b**-0.7  # units of 2/η


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("replicates")
    for b in (4, 8, 16, 32):
        for seed in (0, 1):
            write_train_run(
                root, f"b{b}-s{seed}", batch_size=b, gap=_gap(b), seed=10 * b + seed
            )
    return analyse(discover_inputs([root]))


def test_every_run_is_a_point_and_the_levels_are_combined_per_b(study):
    (s,) = study.sweeps
    assert list(s.batch_size) == [4, 8, 16, 32]
    assert list(s.run_batch_size) == [4, 4, 8, 8, 16, 16, 32, 32]
    for j, b in enumerate(s.batch_size):
        here = s.run_gap[s.run_batch_size == b]
        assert s.gap[j] == pytest.approx(here.mean(), rel=1e-12)
    c = s.curve()
    np.testing.assert_array_equal(c.batch_size, s.run_batch_size)
    np.testing.assert_array_equal(c.gap, s.run_gap)


def test_replicates_give_degrees_of_freedom_and_a_two_b_slope(study):
    (s,) = study.sweeps
    cf = study.sweep_fits[s.key]
    small = cf.fit("small")  # b = 4, 8: two batch sizes, four runs
    assert small is not None and small.n_used == 4 and small.df_resid == 2
    everything = cf.fit("all")
    assert everything.n_used == 8 and everything.df_resid == 6
    lo, hi = everything.exponent_ci
    assert lo < 0.7 < hi  # the designed exponent is recovered


def test_near_window_leaves_out_b_equal_n():
    """Without replacement H_B = H at b = n: the gap is 0 by construction, so a
    solver-noise value there must not enter the near-n fit."""
    from eoss.analysis.stats.compare import GapCurve
    from eoss.analysis.study.gap_fits import fit_curve, windows_for

    n = 1024
    assert windows_for(n)["near"] == (256.0, 1023.0)
    b = np.array([64.0, 128.0, 256.0, 512.0, 768.0, 1024.0])
    gap = (n - b) / (n - 1) / b
    gap[-1] = 1e-9  # noise at b = n
    fits = fit_curve(GapCurve.of(b, gap, None, "c"), n)
    near = fits.fit("near")
    # b = n enters no fit at all: removed first and counted
    assert near.n_used == 3 and near.n_excluded.get("outside_window") == 2
    assert fits.n_full_batch == 1 and fits.fit("all").n_used == 5


def test_varying_fields_and_ignored_groups_are_train_config_fields():
    """A renamed TrainConfig field fails here instead of silently regrouping runs."""
    import dataclasses

    from eoss.analysis.records.reader import dataclass_paths
    from eoss.analysis.study.sweeps import (
        IGNORED_GROUPS,
        IGNORED_PREFIXES,
        VARYING,
        VARYING_FIELDS,
    )
    from eoss.empirical.training.config import TrainConfig

    paths = dataclass_paths(TrainConfig)
    assert set(VARYING_FIELDS) <= paths and set(IGNORED_GROUPS) <= paths
    for group in IGNORED_GROUPS:
        (name,) = group
        field = {f.name: f for f in dataclasses.fields(TrainConfig)}[name]
        assert dataclasses.is_dataclass(field.default_factory())  # a nested group
    assert tuple(".".join(p) for p in VARYING_FIELDS) == VARYING
    assert {"track.", "checkpoint."} <= set(IGNORED_PREFIXES)


def test_sweep_key_ignores_exactly_the_varying_fields():
    from eoss.analysis.cli.overrides import apply_overrides, to_dict
    from eoss.analysis.study.sweeps import VARYING, sweep_key
    from eoss.empirical.training.config import TrainConfig
    from eoss.empirical.training.presets import preset

    def key(*sets):
        return sweep_key(to_dict(apply_overrides(TrainConfig, preset("test"), sets)))

    base = key()
    same = ["batch_size=4", "seed=5", "data.seed=2", "noise.batch_size=3"]
    same += ["track.minibs_batch_size=2", "track.n_batches=8", "checkpoint.every=7"]
    assert all(key(s) == base for s in same)
    assert len(same) >= len(VARYING)
    assert key("lr=0.02") != base and key("data.n_train=32") != base
    assert key("optim.sampling=iid") != base
