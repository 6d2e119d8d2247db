r"""Drift of a trajectory over a window: OLS trend with a HAC standard error.

:math:`D = \hat\beta L` (slope × window length) with its Newey–West SE; the one
definition is :mod:`eoss.empirical.training.drift`, shared with training's stop
rule so a run stopped as stationary is classified stationary by the analysis of
its records. This module gives the analysis layer its name for it.
"""

from __future__ import annotations

from eoss.empirical.training.drift import Drift
from eoss.empirical.training.drift import tail_drift as trend_drift

__all__ = ["Drift", "trend_drift"]
