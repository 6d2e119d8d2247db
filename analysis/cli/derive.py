r"""``eoss derive``: the paper's toy-model formulas, derived, checked and judged.

Examples::

    eoss derive diagonal-network --param full --loss-scale half \\
        --at a1=1,b1=0.5,a2=2,b2=-1,b12=1,b21=0.25 --json
    eoss derive eos-threshold
    eoss derive all --json > derivations.json

Every topic prints the derived expressions (sympy and LaTeX), the verdicts on
the paper's claims, and the outcome of an independent numeric verification
(complex-step Hessians, dense eigvalsh, GD simulation, Monte Carlo). The exit
code is 1 if a verification fails. In ``--json`` every claim carries a ``status``
(:class:`eoss.toy_models.derivations.result.Status` value) next to its prose
``verdict``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from eoss.analysis.cli.main import UsageError

NAME = "derive"
HELP = "derive, verify and judge the paper's toy-model formulas (sympy)"
DESCRIPTION = HELP
TOPICS = ("diagonal-network", "eos-threshold", "lemma41", "bernstein", "all")
# Balanced interpolating points: lambda_i = 4c exactly (see
# eoss.toy_models.derivations.diagonal_network).
DEFAULT_POINTS = {
    "diagonal": {"a1": 1.0, "b1": 1.0, "a2": 1.0, "b2": -1.0},
    "full": {"a1": 1.0, "b1": 1.0, "a2": 0.0, "b2": 0.0, "b12": -1.0, "b21": 0.0},
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``eoss derive``.

    Args:
        p: The subcommand's parser.
    """
    p.add_argument(
        "topic", choices=TOPICS, help="which derivation ('all' for every one)"
    )
    p.add_argument(
        "--param",
        choices=("diagonal", "full"),
        default="diagonal",
        help="diagonal network: B = diag(b1, b2) (4 params) or a full 2x2 B (6 params)",
    )
    p.add_argument(
        "--loss-scale",
        choices=("half", "full"),
        default="half",
        help="per-sample loss (f - y)^2 / 2 ('half') or (f - y)^2 ('full')",
    )
    p.add_argument(
        "--at",
        default=None,
        help="diagonal network: evaluate at a1=..,b1=..,a2=..,b2=.. (+ b12, b21 for "
        "--param full); default: a balanced interpolating point",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the verification points"
    )
    p.add_argument(
        "--no-verify", action="store_true", help="skip the numeric verification"
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")


def parse_point(text: str) -> dict[str, float]:
    """Parse ``name=value,name=value`` into a dict of floats.

    Args:
        text: The ``--at`` value.

    Returns:
        name → value.

    Raises:
        UsageError: On an empty or malformed item, a duplicate name or a value
            that is not a finite number.
    """
    out: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name or not value.strip():
            raise UsageError(f"--at: expected name=value, got {item.strip()!r}")
        if name in out:
            raise UsageError(f"--at: {name} given twice")
        try:
            val = float(value)
        except ValueError:
            raise UsageError(f"--at: {name}={value.strip()} is not a number") from None
        if val != val or val in (float("inf"), float("-inf")):
            raise UsageError(f"--at: {name} must be finite")
        out[name] = val
    return out


def _checked_point(args: argparse.Namespace) -> dict[str, float]:
    """The ``--at`` point (or the default), checked against the parametrisation."""
    from eoss.toy_models.derivations.diagonal_network import PARAM_NAMES

    if args.at is None:
        return DEFAULT_POINTS[args.param]
    point = parse_point(args.at)
    names = PARAM_NAMES[args.param]
    unknown = [n for n in point if n not in names]
    missing = [n for n in names if n not in point]
    if unknown or missing:
        raise UsageError(
            f"--at: --param {args.param} needs exactly {', '.join(names)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    return point


def _diagonal_network(args: argparse.Namespace, rng: Any) -> dict[str, Any]:
    from eoss.toy_models.derivations.diagonal_network import diagonal_network, evaluate

    point = _checked_point(args)
    d = diagonal_network(args.param, args.loss_scale)
    ev = evaluate(args.param, args.loss_scale, point)
    source = "default balanced interpolating point" if args.at is None else "--at"
    return {
        **ev.to_dict(),
        "point_source": source,
        "derivation": d,
        "verification": None if rng is None else d.verify(rng),
    }


def _simple(builder: Any, rng: Any) -> dict[str, Any]:
    d = builder()
    return {"derivation": d, "verification": None if rng is None else d.verify(rng)}


def _topic(name: str, args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from eoss.toy_models.derivations.bernstein import bernstein_derivation
    from eoss.toy_models.derivations.eos_threshold import eos_threshold_derivation
    from eoss.toy_models.derivations.subadditivity import lemma41

    rng = None if args.no_verify else np.random.default_rng(args.seed)
    if name == "diagonal-network":
        return _diagonal_network(args, rng)
    if name == "eos-threshold":
        return _simple(lambda: eos_threshold_derivation(args.loss_scale), rng)
    if name == "lemma41":
        return _simple(lemma41, rng)
    return _simple(bernstein_derivation, rng)


def _as_json(result: dict[str, Any]) -> dict[str, Any]:
    d, v = result["derivation"], result["verification"]
    out = {
        k: val for k, val in result.items() if k not in ("derivation", "verification")
    }
    return out | {
        "derivation": d.to_dict(),
        "verification": None if v is None else v.to_dict(),
    }


def _evaluation_markdown(res: dict[str, Any]) -> str:
    lam = res["per_sample_top_eigenvalues"]
    paper = res["paper"]
    point = ", ".join(f"{k} = {v:g}" for k, v in res["point"].items())
    rows = [
        ("lambda_1", lam[0], paper["lambda1"]),
        ("lambda_2", lam[1], paper["lambda2"]),
        ("FullBS", res["fullbs"], paper["fullbs"]),
        ("MiniBS b=1", res["minibs_b1"], paper["minibs"]),
        ("MiniBS b=2 with replacement", res["minibs_b2_with_replacement"], None),
        ("MiniBS b=2 without replacement", res["minibs_b2_without_replacement"], None),
    ]
    lines = [
        f"### Evaluation at {point} ({res['point_source']})",
        "",
        f"Residuals f_i - y_i: {res['residuals']}; interpolating: "
        f"{res['interpolating']}; |cos| between the top eigenvectors: "
        f"{res['eigenvector_cosine']:.6g}; FullBS by {res['fullbs_method']}.",
        "",
        "| quantity | derived | paper's formula (a_i^2 + b_i^2, max/2, mean) |",
        "|---|---|---|",
    ]
    for name, val, ref in rows:
        ref_txt = "" if ref is None else f"{ref:.10g}"
        lines.append(f"| {name} | {val:.10g} | {ref_txt} |")
    return "\n".join(lines) + "\n"


def _markdown(name: str, res: dict[str, Any]) -> str:
    text = res["derivation"].to_markdown(res["verification"])
    if name == "diagonal-network":
        text += "\n" + _evaluation_markdown(res)
    return text


def handle(args: argparse.Namespace) -> int:
    """Run ``eoss derive``.

    Args:
        args: Parsed arguments.

    Returns:
        0, or 1 when a numeric verification failed.
    """
    from eoss.analysis.records.io import dumps

    if args.at is not None and args.topic not in ("diagonal-network", "all"):
        raise UsageError("--at applies only to the diagonal-network topic")
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    if args.topic in ("diagonal-network", "all"):
        _checked_point(args)  # bad input fails before any work or progress output
    names = TOPICS[:-1] if args.topic == "all" else (args.topic,)
    results = {}
    for name in names:
        print(f"eoss derive: {name} ...", file=sys.stderr)
        results[name] = _topic(name, args)
    verified = [r["verification"] for r in results.values() if r["verification"]]
    ok = all(v.passed for v in verified)
    if args.json:
        docs = {k: {"topic": k} | _as_json(r) for k, r in results.items()}
        doc = docs[args.topic] if args.topic != "all" else {"topics": docs}
        print(dumps(doc | {"all_verified": ok if verified else None}))
    else:
        print("\n".join(_markdown(k, r) for k, r in results.items()))
    if not ok:
        print(
            "eoss derive: a numeric verification FAILED (see output)", file=sys.stderr
        )
        return 1
    return 0
