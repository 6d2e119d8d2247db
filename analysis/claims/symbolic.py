"""Claims judged by the symbolic derivations (``eoss derive all --json`` documents).

Each derivation claim carries a ``status`` (the value of
:class:`eoss.toy_models.derivations.result.Status`) next to its prose ``verdict``;
:data:`STATUS_VERDICT` maps the status to a claims-table verdict. The values are
spelled out here rather than imported, so that reading a JSON document does not
import sympy; a test keeps the two in step.
"""

from __future__ import annotations

from typing import Any

from eoss.analysis.claims.policy import DEFAULT_POLICY, ClaimPolicy
from eoss.analysis.claims.table import ClaimRow, not_measured, row
from eoss.analysis.claims.verdict import Verdict
from eoss.analysis.study.study import Study

# Derivation status → claim verdict. A statement that holds only under a reading
# other than the paper's is *not supported as stated*; the row's note names the
# reading under which it holds.
STATUS_VERDICT: dict[str, Verdict] = {
    "holds": Verdict.SUPPORTED,
    "holds_under_reading": Verdict.NOT_SUPPORTED,
    "fails": Verdict.NOT_SUPPORTED,
    "inconclusive": Verdict.INCONCLUSIVE,
}
# Prose prefix → claim verdict, for derivation JSON written before claims had a
# ``status``; "holds under …" is matched before "holds" (dict order).
PROSE_VERDICT: dict[str, Verdict] = {
    "holds under": Verdict.NOT_SUPPORTED,
    "holds": Verdict.SUPPORTED,
    "fails": Verdict.NOT_SUPPORTED,
    "ambiguous": Verdict.INCONCLUSIVE,
}
RULE = (
    "derivation status: holds → supported; holds only under a reading other than "
    "the paper's → not supported as stated (the note gives the reading); fails → "
    "not supported; ambiguous → inconclusive"
)


def claim_verdict(claim: dict[str, Any]) -> Verdict:
    """The claims-table verdict of one derivation claim (a JSON dict).

    Args:
        claim: ``{"claim", "verdict", "status", …}`` from a derivation document.

    Returns:
        :data:`STATUS_VERDICT` of ``status``; without a ``status`` field (older
        documents) the prose rule :data:`PROSE_VERDICT` on ``verdict``. An
        unknown status or prose is inconclusive.
    """
    if "status" in claim:
        return STATUS_VERDICT.get(str(claim["status"]), Verdict.INCONCLUSIVE)
    # Fallback for documents written before the status field existed: the
    # original prefix match on the prose verdict.
    text = str(claim.get("verdict", ""))
    return next(
        (v for k, v in PROSE_VERDICT.items() if text.startswith(k)),
        Verdict.INCONCLUSIVE,
    )


def _walk_claims(
    obj: Any, context: str, out: list[tuple[str, dict, Any]], parent: Any = None
) -> None:
    """Collect (context, claim dict, enclosing derivation dict) triples."""
    if isinstance(obj, dict):
        if "claim" in obj and "verdict" in obj:
            out.append((context, obj, parent))
            return
        ctx = obj["name"] if isinstance(obj.get("name"), str) else context
        for k, v in obj.items():
            _walk_claims(v, ctx or str(k), out, obj)
    elif isinstance(obj, list):
        for v in obj:
            _walk_claims(v, context, out, parent)


def _under_reading(claim: dict[str, Any]) -> bool:
    if "status" in claim:
        return str(claim["status"]) == "holds_under_reading"
    return str(claim.get("verdict", "")).startswith("holds under")


def symbolic(study: Study, policy: ClaimPolicy = DEFAULT_POLICY) -> list[ClaimRow]:
    """One row per claim verdict found in the derivation documents.

    A claim whose derivation's numeric verification failed is inconclusive. A
    claim that holds only under another reading is "not supported" as stated, and
    its note starts with "not supported as stated; holds under …".

    Args:
        study: The study.
        policy: The rules (:class:`ClaimPolicy`; not used by this rule).

    Returns:
        Rows, in document order.
    """
    rows = []
    for doc in study.inputs.derive:
        found: list[tuple[str, dict, Any]] = []
        _walk_claims(doc.doc, "", found)
        for context, c, parent in found:
            text = str(c.get("verdict", ""))
            verdict = claim_verdict(c)
            passed = (
                (parent or {}).get("verification", {})
                if isinstance(parent, dict)
                else {}
            )
            note = str(c.get("explanation", ""))
            if _under_reading(c):
                scope = f" ({c['scope']})" if c.get("scope") else ""
                note = f"not supported as stated; {text}{scope}. {note}"
            if isinstance(passed, dict) and passed.get("passed") is False:
                verdict = Verdict.INCONCLUSIVE
                note += " (numeric verification FAILED)"
            scope = f" [{c['scope']}]" if c.get("scope") else ""
            source = f"{study.inputs.relative(doc.path)}: {context}{scope}"
            measured = f"derived: {text}; paper: {c.get('claim', '')}"
            rows.append(row("symbolic", source, measured, verdict, RULE, note))
    return rows or [not_measured("symbolic")]
