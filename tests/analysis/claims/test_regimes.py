"""Shape claims on designed curves: three regimes located, and their rules."""

import numpy as np
from synthetic_runs import write_train_run

from eoss.analysis.claims.evaluate import evaluate_claims
from eoss.analysis.claims.policy import ClaimPolicy
from eoss.analysis.claims.regimes import regime_verdict
from eoss.analysis.claims.verdict import Verdict
from eoss.analysis.stats.segmented import fit_segmented
from eoss.analysis.study.inputs import discover_inputs
from eoss.analysis.study.study import analyse

B = np.repeat(2.0 ** np.arange(0, 13), 2)  # b = 1 … 4096, two seeds each


def _curve(bends, exponents=(0.0, 0.7, 1.0), sd=0.02, seed=0):
    """Continuous broken power law with the given bends, log-normal noise."""
    u = np.log(B)
    v = -exponents[0] * u
    for b0, a_prev, a_next in zip(bends, exponents[:-1], exponents[1:], strict=True):
        v -= (a_next - a_prev) * np.maximum(u - np.log(b0), 0)
    rng = np.random.default_rng(seed)
    return np.exp(v + rng.normal(0, sd, len(u)))


def test_shifted_three_regime_curve_is_supported_and_located():
    # the paper's shape with both bends 3x later (b ≈ 30 and 300)
    fit = fit_segmented(B, _curve((30.0, 300.0)), n_segments=3)
    verdict, text = regime_verdict(fit, ClaimPolicy())
    assert verdict is Verdict.SUPPORTED, text
    b1, b2 = fit.breakpoints
    assert 20 < b1 < 45 and 200 < b2 < 450  # located where they were put
    assert not any(o for pair in fit.breakpoint_ci_open for o in pair)


def test_pure_inverse_b_curve_fails_the_shape():
    rng = np.random.default_rng(1)
    y = B**-1.0 * np.exp(rng.normal(0, 0.02, len(B)))
    fit = fit_segmented(B, y, n_segments=3)
    verdict, text = regime_verdict(fit, ClaimPolicy())
    assert verdict is Verdict.NOT_SUPPORTED, text  # no plateau, no 0.7 segment


def test_shallow_middle_regime_is_not_the_papers():
    # plateau → 0.4 → 1: the middle segment is not equivalent to 0.7
    fit = fit_segmented(B, _curve((10.0, 100.0), (0.0, 0.4, 1.0)), n_segments=3)
    verdict, text = regime_verdict(fit, ClaimPolicy())
    assert verdict is Verdict.NOT_SUPPORTED and "b^-0.7: α = 0.4" in text


def test_regime_row_on_a_sweep_reports_the_bend_relative_to_the_paper(tmp_path):
    sizes = [1, 2, 4, 8, 16, 32, 64, 128]
    gaps = _curve((30.0, 300.0), sd=0.0)[::2][: len(sizes)] * 0.3
    for i, (b, g) in enumerate(zip(sizes, gaps, strict=True)):
        write_train_run(tmp_path, f"b{b}", batch_size=b, gap=float(g), seed=i)
    rows = evaluate_claims(analyse(discover_inputs([tmp_path])))
    (r,) = [r for r in rows if r.key == "trained_gap_regimes"]
    assert "× the paper's b ≈ 10" in r.note and r.units == "first bend (b)"
    assert r.criterion.startswith("shape rule") and r.kind == "network"
