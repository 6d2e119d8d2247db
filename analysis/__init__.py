"""Analysis pillar: fits, EoSS detection, figures, reports, records and the CLI.

Public names are imported lazily (PEP 562), so that ``eoss --help`` does not pay
for statsmodels and matplotlib; ``from eoss.analysis import fit_power_law`` works as
usual.
"""

from eoss._lazy import lazy_exports

_EXPORTS = {
    # power laws and model comparison
    "PowerLawFit": "eoss.analysis.stats.powerlaw",
    "fit_power_law": "eoss.analysis.stats.powerlaw",
    "SegmentedFit": "eoss.analysis.stats.segmented",
    "fit_segmented": "eoss.analysis.stats.segmented",
    "SegmentComparison": "eoss.analysis.stats.model_selection",
    "compare_segment_models": "eoss.analysis.stats.model_selection",
    "GapCurve": "eoss.analysis.stats.compare",
    "ExponentComparison": "eoss.analysis.stats.compare",
    "compare_exponents": "eoss.analysis.stats.compare",
    # EoSS detection
    "Criteria": "eoss.analysis.study.plateau",
    "RunDetection": "eoss.analysis.study.plateau",
    "detect_eoss": "eoss.analysis.study.plateau",
    # reports
    "ReportResult": "eoss.analysis.report.build",
    "build_report": "eoss.analysis.report.build",
    "write_report": "eoss.analysis.report.build",
    "evaluate_claims": "eoss.analysis.claims.evaluate",
    # records (all file I/O)
    "RunDir": "eoss.analysis.records.run_dir",
    "SharpnessMonitor": "eoss.analysis.records.monitor",
    "read_jsonl": "eoss.analysis.records.io",
    "write_json": "eoss.analysis.records.io",
    "env_info": "eoss.analysis.records.env",
    # runs and data
    "load_model": "eoss.analysis.cli.runs",
    "load_dataset": "eoss.analysis.cli.data_root",
    # reproduction
    "get_preset": "eoss.analysis.cli.presets",
    # command line
    "main": "eoss.analysis.cli.main",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
