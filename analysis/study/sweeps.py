"""Trained runs grouped into batch-size sweeps, and their plateau curves vs b.

A *sweep* is a set of plain SGD runs (one constant-(η, b) phase, no noise injection)
whose configs agree on everything except the batch size and the seeds: the config is
flattened to dotted keys and the :data:`VARYING_FIELDS` of TrainConfig are dropped
before comparing (as are the bookkeeping groups :data:`IGNORED_GROUPS`).
For each batch size the plateau levels of the runs that reached EoSS (status
``"eoss"``) are combined across seeds:

* level = mean of the runs' levels;
* SE = √(Σ se_i²)/k for one run; for k ≥ 2 runs the larger of that and the
  between-run standard error sd(levels)/√k (run-to-run variation of the plateau is
  real variation, and Monte-Carlo SEs alone would understate it).

The gap level of a run is its control-variate gap (``gap_cv``: same expectation,
far smaller variance) when recorded, else the paired MiniBS − FullBS.

The gap *curve* that is fitted (:meth:`Sweep.curve`) keeps every run as its own
point (seeds are independent replicates at the same b): a window of three batch
sizes with two seeds each then has 6 points and 4 residual degrees of freedom
instead of 3 averaged points and 1, and the residual variance of the fit sees the
seed-to-seed scatter directly. Two batch sizes with replicates are enough for a
slope (the ``small`` window of the plateau claim).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from eoss.analysis.records.reader import RunTables
from eoss.analysis.stats.batch_means import Level
from eoss.analysis.stats.compare import GapCurve
from eoss.analysis.stats.mean import mean_se
from eoss.analysis.study.plateau import RunDetection

# Field paths of eoss.empirical.training.config.TrainConfig that may differ inside
# one sweep, and its groups that never change what is measured (bookkeeping).
# tests/analysis/study/test_sweeps.py checks every path against the dataclass, so a
# renamed field fails a test instead of silently splitting or merging sweeps.
VARYING_FIELDS: tuple[tuple[str, ...], ...] = (
    ("batch_size",),
    ("seed",),
    ("data", "seed"),
    ("noise", "batch_size"),
    ("track", "minibs_batch_size"),
)
IGNORED_GROUPS: tuple[tuple[str, ...], ...] = (("track",), ("checkpoint",))
# The same, as flattened dotted keys (see flatten). The bare prefixes are keys of
# configs written before TrainConfig existed; TrainConfig has no such fields.
VARYING = tuple(".".join(p) for p in VARYING_FIELDS)
IGNORED_PREFIXES = (
    *(".".join(p) + "." for p in IGNORED_GROUPS),
    "progress",
    "out",
    "name",
    "device",
)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict → {dotted key: value}.

    Args:
        config: The config.
        prefix: Prefix for nested keys.

    Returns:
        The flat dict.
    """
    out: dict[str, Any] = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def sweep_key(config: Mapping[str, Any]) -> str:
    """The part of a config that must agree within a sweep, as canonical text.

    Args:
        config: A training run's config.

    Returns:
        Sorted ``key=value`` pairs joined by ``;``.
    """
    flat = flatten(config)
    keep = {
        k: v
        for k, v in flat.items()
        if k not in VARYING and not k.startswith(IGNORED_PREFIXES)
    }
    return ";".join(f"{k}={keep[k]!r}" for k in sorted(keep))


def is_plain_sgd(run: RunTables, detection: RunDetection) -> bool:
    """One unforked phase, no injected noise, SGD (or unspecified) optimiser.

    Args:
        run: The run.
        detection: Its detection.

    Returns:
        True for runs that belong in a batch-size sweep.
    """
    return (
        len(detection.phases) == 1
        and detection.first.phase.change == "start"  # not a fork with a change
        and run.noise_kind in (None, "none")
        and run.optimizer in (None, "sgd")
    )


def combine(levels: Sequence[Level]) -> tuple[float, float]:
    """Mean and SE of per-run levels (see the module docstring).

    Args:
        levels: One level per run (k ≥ 1).

    Returns:
        (mean, se).
    """
    means = np.array([lv.mean for lv in levels])
    ses = np.array([lv.se for lv in levels])
    within = float(np.sqrt(np.nansum(ses**2)) / len(levels))
    if len(levels) == 1:
        return float(means[0]), within
    mean, between = mean_se(means)
    return mean, max(within, between)


@dataclass(frozen=True)
class Sweep:
    """Plateau levels of one sweep against the batch size.

    Attributes:
        key: The sweep key (:func:`sweep_key`).
        lr: Learning rate η.
        n_train: Training-set size, if recorded.
        batch_size: Batch sizes with at least one run at EoSS, shape (m,).
        gap: Plateau gap per b (raw units), shape (m,).
        gap_se: Its SE, shape (m,).
        minibs: MiniBS plateau / (2/η), shape (m,).
        minibs_se: Its SE.
        fullbs: FullBS plateau / (2/η), shape (m,).
        fullbs_se: Its SE.
        gap_source: Per b, "gap_cv" or "gap" (paired) — what the gap is.
        run_ids: Per b, the runs combined.
        run_batch_size: Per run with a gap level: its b (replicates repeat b).
        run_gap: Its plateau gap (raw units).
        run_gap_se: Its SE.
        excluded: Run id → status, for runs not at EoSS (not in the curves).
    """

    key: str
    lr: float
    n_train: int | None
    batch_size: NDArray[np.float64]
    gap: NDArray[np.float64]
    gap_se: NDArray[np.float64]
    minibs: NDArray[np.float64]
    minibs_se: NDArray[np.float64]
    fullbs: NDArray[np.float64]
    fullbs_se: NDArray[np.float64]
    gap_source: tuple[str, ...]
    run_ids: tuple[tuple[str, ...], ...]
    run_batch_size: NDArray[np.float64]
    run_gap: NDArray[np.float64]
    run_gap_se: NDArray[np.float64]
    excluded: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Short description: η and n."""
        n = f", n = {self.n_train}" if self.n_train else ""
        return f"η = {self.lr:g}{n}"

    def curve(self) -> GapCurve:
        """The plateau gap curve that is fitted: one point per run (module doc).

        Returns:
            Gap vs b with SEs.
        """
        return GapCurve.of(
            self.run_batch_size, self.run_gap, self.run_gap_se, self.label
        )


def _point(dets: Sequence[Any]) -> dict[str, Any]:
    """Combine the first-phase detections of the runs at one batch size."""
    gaps = [d.gap_cv if d.gap_cv is not None else d.gap for d in dets]
    ok = [g is not None for g in gaps]
    out: dict[str, Any] = {}
    if any(ok):
        out["gap_levels"] = [g for g in gaps if g is not None]
        out["gap"] = combine(out["gap_levels"])
        out["gap_source"] = (
            "gap_cv" if all(d.gap_cv is not None for d in dets) else "gap"
        )
    for name in ("minibs", "fullbs"):
        lv = [d.normalised(name) for d in dets if getattr(d, name) is not None]
        out[name] = combine(lv) if lv else (np.nan, np.nan)
    return out


def build_sweeps(
    items: Sequence[tuple[RunTables, RunDetection]],
    *,
    include_nonstationary: bool = False,
) -> list[Sweep]:
    """Group plain SGD runs into sweeps and combine their plateaus per batch size.

    Runs whose first phase is at EoSS (status ``"eoss"``: reached and stationary)
    enter the curves; with ``include_nonstationary`` so do runs that reached 2/η
    but still drift (status ``"non_stationary"``). Every other run is listed in
    :attr:`Sweep.excluded` with its status.

    Args:
        items: (run, detection) pairs.
        include_nonstationary: Also use non-stationary runs (off by default).

    Returns:
        The sweeps, sorted by key: groups whose runs cover at least two batch sizes
        (the arrays are empty when no run of the sweep reached EoSS).
    """
    groups: dict[str, list[tuple[RunTables, RunDetection]]] = defaultdict(list)
    for run, det in items:
        if is_plain_sgd(run, det):
            groups[sweep_key(run.config)].append((run, det))
    sweeps = []
    for key in sorted(groups):
        if len({d.first.phase.batch_size for _, d in groups[key]}) < 2:
            continue  # one batch size is not a sweep
        by_b: dict[int, list] = defaultdict(list)
        excluded = {}
        for run, det in groups[key]:
            ph = det.first
            keep = ("eoss", "non_stationary") if include_nonstationary else ("eoss",)
            if ph.status in keep:
                by_b[ph.phase.batch_size].append((run.run_id, ph))
            else:
                excluded[run.run_id] = ph.status
        rows = []
        for b in sorted(by_b):
            pt = _point([ph for _, ph in by_b[b]])
            if "gap" in pt:
                rows.append((b, pt, tuple(sorted(r for r, _ in by_b[b]))))
        run0, det0 = groups[key][0]
        sweeps.append(_assemble(key, det0.first.phase.lr, run0.n_train, rows, excluded))
    return sweeps


def _assemble(
    key: str,
    lr: float,
    n: int | None,
    rows: list[tuple[int, dict, tuple[str, ...]]],
    excluded: dict[str, str],
) -> Sweep:
    def col(name: str, i: int) -> NDArray[np.float64]:
        return np.array([r[1][name][i] for r in rows], dtype=float)

    per_run = [(r[0], lv) for r in rows for lv in r[1]["gap_levels"]]

    return Sweep(
        key=key,
        lr=float(lr),
        n_train=n,
        batch_size=np.array([r[0] for r in rows], dtype=float),
        gap=col("gap", 0),
        gap_se=col("gap", 1),
        minibs=col("minibs", 0),
        minibs_se=col("minibs", 1),
        fullbs=col("fullbs", 0),
        fullbs_se=col("fullbs", 1),
        gap_source=tuple(r[1]["gap_source"] for r in rows),
        run_ids=tuple(r[2] for r in rows),
        run_batch_size=np.array([b for b, _ in per_run], dtype=float),
        run_gap=np.array([lv.mean for _, lv in per_run], dtype=float),
        run_gap_se=np.array([lv.se for _, lv in per_run], dtype=float),
        excluded=dict(sorted(excluded.items())),
    )
