"""Analysis pillar: fits, EoSS detection, figures, reports, records and the CLI.

Public names are imported lazily (PEP 562), so that ``eoss --help`` does not pay
for statsmodels and matplotlib; ``from analysis import fit_power_law`` works as
usual.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # power laws and model comparison
    "PowerLawFit": "analysis.powerlaw",
    "fit_power_law": "analysis.powerlaw",
    "SegmentedFit": "analysis.segmented",
    "fit_segmented": "analysis.segmented",
    "SegmentComparison": "analysis.model_selection",
    "compare_segment_models": "analysis.model_selection",
    "GapCurve": "analysis.compare",
    "ExponentComparison": "analysis.compare",
    "compare_exponents": "analysis.compare",
    # EoSS detection
    "Criteria": "analysis.plateau",
    "RunDetection": "analysis.plateau",
    "detect_eoss": "analysis.plateau",
    # reports
    "ReportResult": "analysis.report",
    "build_report": "analysis.report",
    "evaluate_claims": "analysis.report",
    # records (all file I/O)
    "RunDir": "analysis.records",
    "read_jsonl": "analysis.records",
    "write_json": "analysis.records",
    "env_info": "analysis.records",
    # runs and data
    "load_model": "analysis.runs",
    "load_dataset": "analysis.datasets",
    # reproduction
    "get_preset": "analysis.reproduce",
    # command line
    "main": "analysis.cli",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import public names on first use.

    Args:
        name: Attribute name.

    Returns:
        The attribute.

    Raises:
        AttributeError: If ``name`` is not a public name.
    """
    if name not in _EXPORTS:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
