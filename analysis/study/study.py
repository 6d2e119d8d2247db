"""Every analysis of a set of inputs: EoSS detections, sweeps, fits, comparisons.

:func:`analyse` turns :class:`eoss.analysis.study.inputs.ReportInputs` into a
:class:`Study`, from which the claims (:mod:`eoss.analysis.claims`) are evaluated and
the report (:mod:`eoss.analysis.report.build`) is written. Every gap curve is fitted
in the named windows of :mod:`eoss.analysis.study.gap_fits`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath

from eoss.analysis.records.reader import RunTables
from eoss.analysis.stats.compare import ExponentComparison, compare_exponents
from eoss.analysis.study.gap_fits import CurveFits, fit_curve
from eoss.analysis.study.inputs import GapTable, ReportInputs
from eoss.analysis.study.plateau import Criteria, RunDetection, detect_eoss
from eoss.analysis.study.sweeps import Sweep, build_sweeps


@dataclass(frozen=True)
class Study:
    """Everything computed from one set of inputs.

    Attributes:
        inputs: What was found.
        criteria: EoSS detection thresholds.
        detections: (run, detection) for every training run, sorted by path.
        sweeps: Batch-size sweeps of plain SGD runs.
        sweep_fits: Sweep key → fits of its plateau gap curve.
        static_fits: Static table path (relative) → fits.
        simulate_fits: Simulation table path (relative) → fits.
        comparisons: (static path, sweep key, comparison or reason) triples: each
            static curve against the sweep that holds its source run (the
            ``run`` of its config), or against every sweep when none does.
        include_nonstationary: Non-stationary runs were used in the sweeps.
    """

    inputs: ReportInputs
    criteria: Criteria
    detections: tuple[tuple[RunTables, RunDetection], ...]
    sweeps: tuple[Sweep, ...]
    sweep_fits: dict[str, CurveFits] = field(repr=False)
    static_fits: dict[str, CurveFits] = field(repr=False)
    simulate_fits: dict[str, CurveFits] = field(repr=False)
    comparisons: tuple[tuple[str, str, ExponentComparison | str], ...] = ()
    include_nonstationary: bool = False

    def with_nonstationary(self, include: bool) -> Study:
        """The same study with the sweeps rebuilt including (or not) drifting runs.

        Args:
            include: Use non-stationary runs in the sweeps and their fits.

        Returns:
            ``self`` when nothing changes, else a new study.
        """
        if include == self.include_nonstationary:
            return self
        return analyse(self.inputs, self.criteria, include_nonstationary=include)


def _table_fits(
    inputs: ReportInputs, tables: tuple[GapTable, ...]
) -> dict[str, CurveFits]:
    out = {}
    for t in tables:
        label = inputs.relative(t.path)
        # n-relative windows only make sense for batches drawn without replacement
        # from n points (static curves always are; simulations say so).
        without = t.kind == "static" or sampling_of(t) in (None, "without")
        out[label] = fit_curve(
            t.curve(label),
            t.n if without else None,
            fpc=without,
            n_unconverged=int(t.unconverged.sum()),
        )
    return out


def analyse(
    inputs: ReportInputs,
    criteria: Criteria | None = None,
    *,
    include_nonstationary: bool = False,
) -> Study:
    """Run every analysis on the inputs.

    Args:
        inputs: From :func:`eoss.analysis.study.inputs.discover_inputs`.
        criteria: EoSS thresholds (default
            :class:`eoss.analysis.study.plateau.Criteria`).
        include_nonstationary: Use runs that reached 2/η but are not stationary
            in the sweeps (off by default; they are reported as excluded).

    Returns:
        The study.
    """
    crit = criteria or Criteria()
    dets = tuple((run, detect_eoss(run, crit)) for run in inputs.runs)
    sweeps = tuple(build_sweeps(dets, include_nonstationary=include_nonstationary))
    sweep_fits = {s.key: fit_curve(s.curve(), s.n_train) for s in sweeps}
    static_fits = _table_fits(inputs, inputs.static)
    return Study(
        inputs=inputs,
        criteria=crit,
        detections=dets,
        sweeps=sweeps,
        sweep_fits=sweep_fits,
        static_fits=static_fits,
        simulate_fits=_table_fits(inputs, inputs.simulate),
        comparisons=_compare_all(inputs, static_fits, sweeps),
        include_nonstationary=include_nonstationary,
    )


def _partners(table: GapTable, sweeps: tuple[Sweep, ...]) -> tuple[Sweep, ...]:
    """The sweep holding the static curve's source run, else every sweep."""
    src = table.config.get("run")
    name = PurePath(str(src)).name if src else None
    mine = tuple(s for s in sweeps if any(name in ids for ids in s.run_ids))
    return mine or sweeps


def _compare_all(
    inputs: ReportInputs, static_fits: dict[str, CurveFits], sweeps: tuple[Sweep, ...]
) -> tuple[tuple[str, str, ExponentComparison | str], ...]:
    out = []
    for t in inputs.static:
        label = inputs.relative(t.path)
        for s in _partners(t, sweeps):
            try:
                comp: ExponentComparison | str = compare_exponents(
                    static_fits[label].curve, s.curve()
                )
            except ValueError as exc:
                comp = str(exc)
            out.append((label, s.key, comp))
    return tuple(out)


def sampling_of(table: GapTable) -> str | None:
    """The sampling mode of a simulation ("without", "with", "online"), if recorded.

    Args:
        table: A gap table.

    Returns:
        The mode or None.
    """
    return table.sampling
