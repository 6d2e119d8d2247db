"""§3.3's spread claim on designed sweeps: MiniBS flat across b, FullBS varying."""

import re

import numpy as np
from synthetic_runs import write_train_run

from eoss.analysis.claims.evaluate import evaluate_claims
from eoss.analysis.claims.plateau_spread import KEY, minibs_flat_fullbs_varies
from eoss.analysis.claims.policy import ClaimPolicy
from eoss.analysis.claims.verdict import Verdict
from eoss.analysis.study.inputs import discover_inputs
from eoss.analysis.study.study import analyse


def _sweep(root, levels, fullbs, sizes, seeds=1, **kw):
    """One run per (b, seed): MiniBS at levels[i] and FullBS at fullbs[i] × 2/η."""
    k = 0
    for b, lv, fb in zip(sizes, levels, fullbs, strict=True):
        for s in range(seeds):
            write_train_run(
                root, f"b{b}s{s}", batch_size=b, level=lv, fullbs_level=fb, seed=k, **kw
            )
            k += 1
    return analyse(discover_inputs([root]))


def test_flat_minibs_and_tenfold_fullbs_is_supported_with_the_order_of_magnitude(
    tmp_path,
):
    # MiniBS 1.5-1.7 × 2/η (spread 1.13), FullBS 0.06-0.9 × 2/η (spread 15)
    study = _sweep(tmp_path, (1.5, 1.6, 1.7), (0.06, 0.4, 0.9), (2, 16, 128))
    (r,) = minibs_flat_fullbs_varies(study)
    assert r.verdict is Verdict.SUPPORTED, r.measured
    # The estimate is S_F / S_M of the levels put in, up to the plateau noise: the
    # SE of a level's log is ≈ 0.02 for FullBS 0.06 (sd 0.005 · 2/η over ~20
    # points) and ≤ 0.005 for the others, ≈ 0.02 in all, so 0.06 is 3 SDs.
    assert abs(np.log(r.estimate) - np.log((0.9 / 0.06) / (1.7 / 1.5))) < 0.06
    assert r.ci[0] > np.exp(0.1) and "S_F ≥ 10" in r.criterion
    full = re.search(r"FullBS (\S+) \(b = 2\) – (\S+) \(b = 128\) × 2/η", r.measured)
    assert abs(float(full[1]) - 0.06) < 0.005 and abs(float(full[2]) - 0.9) < 0.02
    assert "(paper: 0.1–1 × 2/η)" in r.measured
    assert "order of magnitude (S_F ≥ 10): shown over b ∈ [2, 128]" in r.measured


def test_flat_fullbs_is_not_supported(tmp_path):
    # FullBS the same at every b, MiniBS spread 1.5 (inside the band): FullBS does
    # not vary more than MiniBS
    study = _sweep(tmp_path, (1.2, 1.5, 1.8), (0.5, 0.5, 0.5), (2, 16, 128))
    (r,) = minibs_flat_fullbs_varies(study)
    assert r.verdict is Verdict.NOT_SUPPORTED, r.measured
    assert r.ci[1] < np.exp(0.1)
    assert "excluded over b ∈ [2, 128]" in r.measured


def test_minibs_spread_beyond_a_factor_two_is_not_supported(tmp_path):
    study = _sweep(tmp_path, (1.0, 1.5, 2.6), (0.05, 0.3, 0.9), (2, 16, 128))
    (r,) = minibs_flat_fullbs_varies(study)
    assert r.verdict is Verdict.NOT_SUPPORTED, r.measured
    lo = float(re.search(r"S_M = \S+ \[(\S+),", r.measured)[1])
    assert lo > 2  # the lower bound of the MiniBS spread decides


def test_two_batch_sizes_are_inconclusive_and_wired_into_the_table(tmp_path):
    study = _sweep(tmp_path, (1.5, 1.6), (0.1, 0.9), (2, 128), seeds=2)
    rows = [r for r in evaluate_claims(study) if r.key == KEY]
    assert [r.verdict for r in rows] == [Verdict.INCONCLUSIVE]
    assert "needs ≥ 3 batch sizes" in rows[0].note and rows[0].kind == "network"
    assert "b = 2, 128" in rows[0].measured


def test_only_stationary_runs_count_and_the_margin_is_the_policys(tmp_path):
    # a drifting run at b = 512 with a very different FullBS must not enter
    study = _sweep(tmp_path, (1.5, 1.6, 1.7), (0.3, 0.5, 0.7), (2, 16, 128))
    write_train_run(
        tmp_path, "drift", batch_size=512, level=1.6, fullbs_level=1.5, drift=0.5
    )
    study = analyse(discover_inputs([tmp_path]))
    (r,) = minibs_flat_fullbs_varies(study)
    assert "b ∈ [2, 128]" in r.measured and "non_stationary: 1" in r.note
    assert r.verdict is Verdict.SUPPORTED  # S_F/S_M ≈ 2.1
    strict = minibs_flat_fullbs_varies(study, ClaimPolicy(spread_margin=1.0))[0]
    assert strict.verdict is Verdict.NOT_SUPPORTED  # d ≈ 0.74 is shown < 1
    assert "d > 1 (lower bound)" in strict.criterion
