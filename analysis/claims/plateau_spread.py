r"""§3.3's comparison: the MiniBS plateau is nearly independent of b, FullBS's is not.

Paper, §3.3: "the MINIBS plateau consistently lies within a range of 2/η to at most
2 × 2/η across varying batch sizes [...]. In comparison, the FULLBS plateau exhibits
fluctuations by an order of magnitude, spanning from 0.1 × 2/η to 2/η."

**Runs.** As for the band claim (:func:`eoss.analysis.claims.dynamics.minibs_band`):
plain SGD runs (:func:`eoss.analysis.study.sweeps.is_plain_sgd`: no noise
injection, one phase) whose plateau is stationary (status ``"eoss"``), whatever the
policy says about non-stationary runs, and whose MiniBS was measured at the run's
own b. Runs are grouped into sweeps by :func:`eoss.analysis.study.sweeps.sweep_key`
(the same config up to b and seeds): a spread across b mixes no models or data.

**Statistic.** Per b the runs' plateau levels (units of 2/η) are pooled
(:func:`eoss.analysis.stats.spread.pool_replicates`), and for each quantity the
spread :math:`S = \max_b L_b / \min_b L_b` is computed with a Bonferroni-
simultaneous interval over all 2m levels of the m batch sizes
(:func:`eoss.analysis.stats.spread.spread`), so every interval of a row holds
jointly with probability ≥ 95 %. With :math:`d = \log S_F - \log S_M` and m₀ the
policy's ``spread_margin``:

* supported iff :math:`hi(S_M) \le 2` (the MiniBS plateaus fit in a factor 2, as
  the band [2/η, 4/η] allows) and :math:`lo(d) > m_0` (FullBS varies more);
* not supported iff :math:`lo(S_M) > 2` or :math:`hi(d) < m_0` (FullBS shown not
  to vary more than MiniBS);
* inconclusive otherwise, and with fewer than 3 batch sizes.

**Order of magnitude** (:math:`S_F \ge 10`) is reported in the row, not in its
verdict: shown when :math:`lo(S_F) \ge 10`, excluded when :math:`hi(S_F) < 10`. The
FullBS range grows with the span of b a sweep covers (FullBS falls at small b), and
the paper's [0.1, 1] × 2/η spans its experiments; a sweep over a narrower range of
b cannot refute it, so the row states the b range next to the result.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from eoss.analysis.claims.policy import DEFAULT_POLICY, ClaimPolicy
from eoss.analysis.claims.table import ClaimRow, fmt, not_measured, row
from eoss.analysis.claims.verdict import Verdict
from eoss.analysis.records.reader import RunTables
from eoss.analysis.stats.spread import (
    GroupMean,
    Spread,
    log_spread_difference,
    pool_replicates,
    spread,
)
from eoss.analysis.study.plateau import PhaseDetection, RunDetection
from eoss.analysis.study.study import Study
from eoss.analysis.study.sweeps import is_plain_sgd, sweep_key

KEY = "minibs_flat_fullbs_varies"
MAX_MINIBS_SPREAD = 2.0  # [2/η, 4/η]: a factor 2
ORDER_OF_MAGNITUDE = 10.0
PAPER_FULLBS_RANGE = (0.1, 1.0)  # units of 2/η
ALPHA = 0.05


def rule_text(policy: ClaimPolicy) -> str:
    """The spread rule in words (module docstring).

    Args:
        policy: The rules (its ``spread_margin``).

    Returns:
        One line.
    """
    m0 = f"{policy.spread_margin:g}"
    return (
        "spread rule: S = max_b/min_b of the per-b plateau (stationary plain-SGD "
        "runs, seeds pooled), 95% intervals simultaneous over all 2m levels "
        f"(Bonferroni); d = log S_F − log S_M; supported iff S_M ≤ 2 (upper "
        f"bound) and d > {m0} (lower bound); not supported iff S_M > 2 (lower "
        f"bound) or d < {m0} (upper bound); else, or with < 3 batch sizes, "
        "inconclusive. Not in the verdict: S_F ≥ 10 shown if its lower bound "
        "≥ 10, excluded if its upper bound < 10"
    )


def _groups(
    study: Study,
) -> tuple[dict[str, dict[int, list[PhaseDetection]]], dict[str, dict[str, int]]]:
    """Sweep key → b → stationary phases; sweep key → reason → runs left out."""
    by_key: dict[str, list[tuple[RunTables, RunDetection]]] = defaultdict(list)
    for run, det in study.detections:
        if is_plain_sgd(run, det):
            by_key[sweep_key(run.config)].append((run, det))
    used: dict[str, dict[int, list[PhaseDetection]]] = {}
    left: dict[str, dict[str, int]] = {}
    for key, items in sorted(by_key.items()):
        if len({d.first.phase.batch_size for _, d in items}) < 2:
            continue  # one batch size is not a sweep
        used[key], left[key] = defaultdict(list), defaultdict(int)
        for _, det in items:
            ph = det.first
            if ph.status != "eoss":
                left[key][ph.status] += 1
            elif ph.minibs_b_note:
                left[key]["MiniBS at another b"] += 1
            elif ph.minibs is None or ph.fullbs is None:
                left[key]["no MiniBS or FullBS level"] += 1
            else:
                used[key][ph.phase.batch_size].append(ph)
    return used, left


def _pooled(
    phases: dict[int, list[PhaseDetection]],
) -> tuple[list[int], list[GroupMean], list[GroupMean], int]:
    bs, mini, full, dropped = [], [], [], 0
    for b in sorted(phases):
        m = pool_replicates([p.normalised("minibs") for p in phases[b]])
        f = pool_replicates([p.normalised("fullbs") for p in phases[b]])
        if m is None or f is None:
            dropped += 1
            continue
        bs.append(b)
        mini.append(m)
        full.append(f)
    return bs, mini, full, dropped


def _fmt_spread(s: Spread) -> str:
    return f"{fmt(s.estimate)} [{fmt(s.ci[0])}, {fmt(s.ci[1])}]"


def _range_text(name: str, s: Spread, levels: list[GroupMean], bs: list[int]) -> str:
    lo, hi = levels[s.i_min].mean, levels[s.i_max].mean
    return f"{name} {fmt(lo)} (b = {bs[s.i_min]}) – {fmt(hi)} (b = {bs[s.i_max]}) × 2/η"


def _magnitude(s_f: Spread, bs: list[int]) -> str:
    lo, hi = s_f.ci
    where = f"over b ∈ [{bs[0]}, {bs[-1]}]"
    if lo >= ORDER_OF_MAGNITUDE:
        return f"order of magnitude (S_F ≥ 10): shown {where}"
    if hi < ORDER_OF_MAGNITUDE:
        return f"order of magnitude (S_F ≥ 10): excluded {where}"
    return f"order of magnitude (S_F ≥ 10): undecided {where}"


def spread_verdict(
    s_m: Spread, d_ci: tuple[float, float], policy: ClaimPolicy
) -> Verdict:
    """The verdict of the spread rule (module docstring).

    Args:
        s_m: MiniBS spread (interval on the joint family).
        d_ci: Interval of log S_F − log S_M (same family).
        policy: The rules (its ``spread_margin``).

    Returns:
        The verdict (inconclusive when an interval is undefined).
    """
    m0 = policy.spread_margin
    if s_m.ci[0] > MAX_MINIBS_SPREAD or d_ci[1] < m0:
        return Verdict.NOT_SUPPORTED
    if s_m.ci[1] <= MAX_MINIBS_SPREAD and d_ci[0] > m0:
        return Verdict.SUPPORTED
    return Verdict.INCONCLUSIVE


def _note(left: dict[str, int], dropped: int) -> str:
    parts = ["only stationary plain-SGD runs with MiniBS at their own b count"]
    if left:
        by = ", ".join(f"{k}: {v}" for k, v in sorted(left.items()))
        parts.append(f"runs left out — {by}")
    if dropped:
        parts.append(f"{dropped} batch size(s) without a plateau SE dropped")
    return "; ".join(parts)


def _sweep_row(
    label: str,
    phases: dict[int, list[PhaseDetection]],
    left: dict[str, int],
    policy: ClaimPolicy,
) -> ClaimRow:
    rule = rule_text(policy)
    bs, mini, full, dropped = _pooled(phases)
    note = _note(left, dropped)
    if len(bs) < 3:
        return row(
            KEY,
            label,
            f"{len(bs)} batch size(s) with a stationary plateau "
            f"(b = {', '.join(map(str, bs)) or '—'})",
            Verdict.INCONCLUSIVE,
            rule,
            "needs ≥ 3 batch sizes; " + note,
        )
    family = 2 * len(bs)
    s_m = spread(mini, alpha=ALPHA, family=family)
    s_f = spread(full, alpha=ALPHA, family=family)
    d, d_ci = log_spread_difference(s_f, s_m)
    paper = f"paper: {PAPER_FULLBS_RANGE[0]:g}–{PAPER_FULLBS_RANGE[1]:g} × 2/η"
    measured = (
        f"S_M = {_fmt_spread(s_m)}, S_F = {_fmt_spread(s_f)}; log S_F − log S_M "
        f"= {fmt(d)} [{fmt(d_ci[0])}, {fmt(d_ci[1])}] ({len(bs)} batch sizes); "
        f"{_range_text('FullBS', s_f, full, bs)} ({paper}); "
        f"{_range_text('MiniBS', s_m, mini, bs)}; {_magnitude(s_f, bs)}"
    )
    ratio_ci = (float(np.exp(d_ci[0])), float(np.exp(d_ci[1])))
    return row(
        KEY,
        label,
        measured,
        spread_verdict(s_m, d_ci, policy),
        rule,
        note,
        estimate=float(np.exp(d)),
        ci=ratio_ci,
        units="S_F / S_M (spread max_b/min_b of FullBS over that of MiniBS)",
    )


def _label(study: Study, key: str, phases: dict[int, list[PhaseDetection]]) -> str:
    sweep = next((s for s in study.sweeps if s.key == key), None)
    if sweep is not None:
        return sweep.label
    lrs = {p.phase.lr for ps in phases.values() for p in ps}
    return f"η = {lrs.pop():g}" if len(lrs) == 1 else "sweep"


def minibs_flat_fullbs_varies(
    study: Study, policy: ClaimPolicy = DEFAULT_POLICY
) -> list[ClaimRow]:
    """MiniBS plateau within a factor 2 across b; FullBS plateau varies more.

    Args:
        study: The study.
        policy: The rules (its ``spread_margin``).

    Returns:
        One row per sweep (config agreeing up to b and seeds), or a not-measured
        row.
    """
    used, left = _groups(study)
    rows = [
        _sweep_row(_label(study, key, phases), phases, left[key], policy)
        for key, phases in used.items()
    ]
    return rows or [not_measured(KEY)]
