"""The exponent rule: a claimed power-law exponent against a confidence interval."""

from __future__ import annotations

from collections.abc import Mapping


def exponent_verdict(
    ci: tuple[float, float], claimed: float, rivals: Mapping[str, float] | None = None
) -> str:
    """Verdict on "exponent = claimed" from a confidence interval.

    * ``"not supported"``: ``claimed`` lies outside the interval;
    * ``"supported"``: ``claimed`` lies inside and every rival value lies outside
      (the data can tell the claim from its alternatives);
    * ``"inconclusive"``: ``claimed`` and some rival are both inside (too imprecise).

    Args:
        ci: (lower, upper) interval of the exponent.
        claimed: The exponent the paper states.
        rivals: Named alternative exponents the data should exclude (e.g. the other
            regime's exponent), or None.

    Returns:
        One of "supported", "not supported", "inconclusive".
    """
    lo, hi = ci
    if not lo <= claimed <= hi:
        return "not supported"
    if any(lo <= r <= hi for r in (rivals or {}).values()):
        return "inconclusive"
    return "supported"
