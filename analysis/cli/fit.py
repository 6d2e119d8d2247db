"""``eoss fit``: power-law (and segmented) fit of one CSV column against another.

Examples::

    eoss fit results.csv --x batch_size --y gap --se gap_se --json
    eoss fit static_gap.csv --x batch_size --y gap_cv --se gap_cv_se --window 10,100
    eoss fit results.csv --x batch_size --y gap --segments 2
    eoss fit results.csv --x batch_size --y gap --null 0.7 --margin 0.1 --json
    eoss fit results.csv --x batch_size --y gap --profile
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path
from typing import Any

NAME = "fit"
HELP = "fit gap ∝ b^-α (OLS/WLS on log-log axes) to columns of a CSV file"
DESCRIPTION = HELP


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``eoss fit``.

    Args:
        p: The subcommand's parser.
    """
    p.add_argument("file", help="CSV file with a header row")
    p.add_argument("--x", required=True, help="column of the abscissa (batch size)")
    p.add_argument("--y", required=True, help="column of the ordinate (gap)")
    p.add_argument(
        "--se", default=None, help="column of the standard errors of y (WLS weights)"
    )
    p.add_argument(
        "--window",
        default=None,
        help="inclusive x range LO,HI to fit (points outside are counted, not used)",
    )
    p.add_argument(
        "--segments",
        type=int,
        default=1,
        choices=(1, 2, 3),
        help="also fit a continuous K-segment power law and compare AIC/BIC (K=2, 3)",
    )
    p.add_argument(
        "--alpha", type=float, default=0.05, help="significance level (0.05: 95%% CIs)"
    )
    p.add_argument(
        "--scale",
        choices=("residual", "fixed"),
        default="residual",
        help="covariance: residual-scaled (default) or trust the SEs' absolute scale",
    )
    p.add_argument(
        "--null",
        type=float,
        default=None,
        help="claimed exponent α0: judge |α − α0| <= --margin by TOST (equivalence)",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=0.1,
        help="equivalence margin of --null (default 0.1)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="also give the local slopes between neighbouring x with 95%% CIs",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")


def parse_window(text: str | None) -> tuple[float, float] | None:
    """Parse ``LO,HI`` into a pair of floats.

    Args:
        text: The option value, or None.

    Returns:
        The window, or None.

    Raises:
        ValueError: If it is not two numbers with LO <= HI.
    """
    if text is None:
        return None
    parts = text.split(",")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"--window must be LO,HI (two numbers), got {text!r}"
        ) from None
    if not lo <= hi:
        raise ValueError(f"--window needs LO <= HI, got {text!r}")
    return lo, hi


def read_columns(path: str | Path, names: list[str]) -> dict[str, list[float]]:
    """Read numeric columns from a CSV file (empty cells become NaN).

    Args:
        path: The CSV file.
        names: Columns to read.

    Returns:
        Column name → values.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is not a CSV with those columns, has no rows, or a
            cell is not a number.
    """
    from eoss.analysis.records.io import read_csv

    try:
        rows = read_csv(path)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path} is not a readable CSV file ({exc})") from None
    if not rows:
        raise ValueError(f"{path} has no data rows")
    header = [h for h in rows[0] if h is not None]
    missing = [n for n in names if n not in header]
    if missing:
        raise ValueError(
            f"{path} has no column(s) {', '.join(missing)}; "
            f"columns: {', '.join(header)}"
        )
    out: dict[str, list[float]] = {n: [] for n in names}
    for i, row in enumerate(rows, start=2):
        for n in names:
            cell = (row.get(n) or "").strip()
            try:
                out[n].append(float(cell) if cell else math.nan)
            except ValueError:
                raise ValueError(
                    f"{path}:{i}: column {n!r} is not numeric: {cell!r}"
                ) from None
    return out


def fit_columns(args: argparse.Namespace) -> dict[str, Any]:
    """Fit the requested columns and return the JSON-safe result.

    Args:
        args: Parsed ``eoss fit`` arguments.

    Returns:
        The power-law fit's dict plus, with ``--segments K`` > 1, the segmented fit
        and the AIC/BIC comparison.
    """
    from eoss.analysis.stats.model_selection import compare_segment_models
    from eoss.analysis.stats.powerlaw import fit_power_law

    names = [args.x, args.y] + ([args.se] if args.se else [])
    window = parse_window(args.window)  # before reading: bad options fail first
    cols = read_columns(args.file, names)
    kw = dict(
        se=cols[args.se] if args.se else None,
        window=window,
        alpha=args.alpha,
        scale=args.scale,
    )
    fit = fit_power_law(cols[args.x], cols[args.y], **kw)
    out: dict[str, Any] = {"file": str(args.file), "x": args.x, "y": args.y}
    out.update(se_column=args.se, **fit.to_dict())
    if args.null is not None:
        out["equivalence"] = _equivalence(fit, args.null, args.margin, args.alpha)
    if args.profile:
        from eoss.analysis.stats.local_slopes import local_slopes

        out["local_slopes"] = local_slopes(
            cols[args.x], cols[args.y], se=kw["se"], alpha=args.alpha
        ).to_dict()
    if args.segments > 1:
        comp = compare_segment_models(
            cols[args.x], cols[args.y], max_segments=args.segments, **kw
        )
        if args.segments not in comp.fits:
            reason = [r for r in comp.rows if r["n_segments"] == args.segments]
            raise ValueError(f"--segments {args.segments}: {reason[0]['skipped']}")
        out["segmented"] = comp.fits[args.segments].to_dict()
        out["model_comparison"] = [dict(r) for r in comp.rows]
        out["preferred_segments_aic"] = comp.preferred_aic
        out["preferred_segments_bic"] = comp.preferred_bic
    return out


def _equivalence(fit: Any, null: float, margin: float, alpha: float) -> dict:
    """TOST of the fitted exponent (its t(n − 2) SE, or normal for "fixed").

    Args:
        fit: The power-law fit.
        null: α0.
        margin: m.
        alpha: Level of each one-sided test.

    Returns:
        The equivalence dict with a ``verdict`` (supported / not supported /
        inconclusive) and the ``rule``.
    """
    from eoss.analysis.stats.equivalence import tost

    if not 0 < alpha < 0.5:
        raise ValueError(f"--null needs --alpha in (0, 0.5), got {alpha}")
    df = None if fit.scale == "fixed" else float(fit.df_resid)
    eq = tost(fit.exponent, fit.exponent_se, df, null, margin, alpha)
    verdict = {"equivalent": "supported", "not equivalent": "not supported"}
    return eq.to_dict() | {"verdict": verdict.get(eq.outcome, "inconclusive")}


def _text(out: dict[str, Any]) -> str:
    lo, hi = out["exponent_ci"]
    level = 100 * (1 - out["alpha"])
    lines = [
        f"{out['y']} ∝ {out['x']}^-α  ({out['method'].upper()}, {out['scale']} scale)",
        f"exponent     {out['exponent']:.6g} ± {out['exponent_se']:.3g}",
        f"exponent_ci  [{lo:.6g}, {hi:.6g}]  ({level:.0f}%)",
        f"prefactor    {out['prefactor']:.6g}",
        f"r2           {out['r2']:.6g}",
        f"p_alpha_1    {out['p_alpha_1']:.4g}",
        f"p_alpha_0_7  {out['p_alpha_0_7']:.4g}",
        f"n_used       {out['n_used']}",
        f"n_excluded   {out['n_excluded'] or 'none'}",
    ]
    if "equivalence" in out:
        e = out["equivalence"]
        lines += [
            f"tost         {e['verdict']} (p_lower {e['p_lower']:.4g}, "
            f"p_upper {e['p_upper']:.4g})",
            f"rule         {e['rule']}",
        ]
    if "local_slopes" in out:
        ls = out["local_slopes"]
        for lo, hi, a, (c0, c1) in zip(
            ls["b_lo"], ls["b_hi"], ls["exponent"], ls["ci"], strict=True
        ):
            lines.append(f"slope {lo:g}→{hi:g}  {a:.4g} [{c0:.4g}, {c1:.4g}]")
    if "segmented" in out:
        seg = out["segmented"]
        for k, (a, (lo, hi)) in enumerate(
            zip(seg["exponents"], seg["exponent_ci"], strict=True)
        ):
            lines.append(f"segment {k + 1}    α = {a:.6g} [{lo:.6g}, {hi:.6g}]")
        for b, (lo, hi) in zip(seg["breakpoints"], seg["breakpoint_ci"], strict=True):
            lines.append(f"breakpoint   {out['x']} = {b:.6g} [{lo:.6g}, {hi:.6g}]")
        for r in out["model_comparison"]:
            if "aic" in r:
                k, aic, bic = r["n_segments"], r["aic"], r["bic"]
                lines.append(f"K = {k}        AIC {aic:.4g}  BIC {bic:.4g}")
    return "\n".join(lines)


def handle(args: argparse.Namespace) -> int:
    """Run ``eoss fit``.

    Args:
        args: Parsed arguments.

    Returns:
        Exit code 0.
    """
    from eoss.analysis.records.io import dumps

    out = fit_columns(args)
    if args.json:
        print(dumps(out))
    else:
        print(_text(out))
    return 0
