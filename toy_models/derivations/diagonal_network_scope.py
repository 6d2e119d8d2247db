"""Where a diagonal-network statement holds, and its verdict in the paper's setting.

Each statement of Appendix F is checked over the four combinations of
parametrisation (diagonal or full B) and loss scale ((f - y)^2 / 2 or (f - y)^2).
It is judged in the setting the paper states (:data:`PAPER_SETTING`); where it
holds only under another combination the verdict says which, and reads *not as
stated*.
"""

from __future__ import annotations

from typing import Any

from eoss.toy_models.derivations.result import Status

PARAMS: tuple[str, ...] = ("diagonal", "full")
LOSS_SCALES: tuple[str, ...] = ("half", "full")
LOSS_TEXT = {"half": "(f - y)^2 / 2", "full": "(f - y)^2"}
# The setting Appendix F states: diagonal initialisation (GD converges to a
# diagonal B) and "MSE", read as the mean of (f - y)^2.
PAPER_SETTING = ("diagonal", "full")


def scope_of(pred) -> str:
    """The (param, loss scale) combos where ``pred`` holds, grouped for reading.

    Args:
        pred: ``pred(param, loss_scale) -> bool``.

    Returns:
        Text naming the combos ("" for none).
    """
    ok = {(p, s) for p in PARAMS for s in LOSS_SCALES if pred(p, s)}
    if len(ok) == len(PARAMS) * len(LOSS_SCALES):
        return "every parametrisation and loss scale"
    parts, left = [], set(ok)
    for s in LOSS_SCALES:
        if all((p, s) in left for p in PARAMS):
            parts.append(f"loss {LOSS_TEXT[s]} (either parametrisation)")
            left -= {(p, s) for p in PARAMS}
    for p in PARAMS:
        if all((p, s) in left for s in LOSS_SCALES):
            parts.append(f"{p} B (either loss scale)")
            left -= {(p, s) for s in LOSS_SCALES}
    parts += [f"{p} B with loss {LOSS_TEXT[s]}" for p, s in sorted(left)]
    return "; ".join(parts)


def verdict_over_settings(
    pred, condition: str = "", suffix: str = ""
) -> dict[str, Any]:
    """ClaimVerdict ``verdict`` and ``status`` keywords over the 4 combos.

    Judged in the paper's own setting, :data:`PAPER_SETTING` (App. F: diagonal
    initialisation, so GD converges to a diagonal B; "MSE", i.e. (f - y)^2):
    holds there → HOLDS (with where else it holds); fails there but holds under
    another parametrisation or loss scale → HOLDS_UNDER_READING ('holds under
    <scope>', i.e. not as stated); holds nowhere → FAILS. Suffix: always.

    Args:
        pred: ``pred(param, loss_scale) -> bool``, the statement's truth.
        condition: Appended to a holding verdict.
        suffix: Appended to every verdict.

    Returns:
        ``verdict`` and ``status`` keyword arguments of a ClaimVerdict.
    """
    scope = scope_of(pred)
    if scope.startswith("every"):
        return {"verdict": "holds" + condition + suffix, "status": Status.HOLDS}
    if not scope:
        return {"verdict": "fails" + suffix, "status": Status.FAILS}
    if pred(*PAPER_SETTING):
        return {
            "verdict": f"holds in the paper's setting; generally for "
            f"{scope}{condition}{suffix}",
            "status": Status.HOLDS,
        }
    return {
        "verdict": f"holds under {scope}{condition}{suffix}",
        "status": Status.HOLDS_UNDER_READING,
    }
