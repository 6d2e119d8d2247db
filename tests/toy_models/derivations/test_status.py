"""Every derivation verdict carries a :class:`Status` that agrees with its prose."""

from __future__ import annotations

import pytest

from eoss.toy_models.derivations.bernstein import bernstein_derivation
from eoss.toy_models.derivations.diagonal_network import diagonal_network
from eoss.toy_models.derivations.eos_threshold import eos_threshold_derivation
from eoss.toy_models.derivations.result import ClaimVerdict, Status
from eoss.toy_models.derivations.subadditivity import lemma41

H, R, F, INC = (
    Status.HOLDS,
    Status.HOLDS_UNDER_READING,
    Status.FAILS,
    Status.INCONCLUSIVE,
)


def _derivations():
    yield from (
        diagonal_network(p, s) for p in ("diagonal", "full") for s in ("half", "full")
    )
    yield from (eos_threshold_derivation(s) for s in ("half", "full"))
    yield lemma41()
    yield bernstein_derivation()


def test_every_verdict_has_a_status_matching_its_prose():
    for d in _derivations():
        for c in d.claims:
            assert isinstance(c.status, Status)
            if c.status is F:
                assert c.verdict.startswith("fails")
            elif c.status is INC:
                assert c.verdict == "ambiguous"
            elif c.status is R:
                assert c.verdict.startswith("holds under ")
            else:
                assert c.verdict.startswith("holds")
            assert c.to_dict()["status"] == c.status.value


@pytest.mark.parametrize(
    "derivation, expected",
    [
        # judged in App. F's own setting (diagonal B, MSE (f - y)^2): the λ1
        # formula needs the loss (f - y)^2 / 2 (R); FullBS and orthogonality hold
        # for diagonal B (H); MiniBS is stated for "mini batches of size one" (H)
        (lambda: diagonal_network("diagonal", "half"), (R, H, H, H, H)),
        (lambda: eos_threshold_derivation("half"), (H, H, R)),
        (lambda: eos_threshold_derivation("full"), (H, H, F)),
        (lemma41, (H, F)),
        (bernstein_derivation, (H, R, INC)),
    ],
)
def test_statuses_of_the_paper_claims(derivation, expected):
    assert tuple(c.status for c in derivation().claims) == expected


def test_status_must_agree_with_the_prose():
    ok = ClaimVerdict("c", "holds under b = 1", "e", status="holds_under_reading")
    assert ok.status is R
    with pytest.raises(ValueError):
        ClaimVerdict("c", "fails", "e", status=Status.HOLDS)
    with pytest.raises(ValueError):
        ClaimVerdict("c", "holds", "e", status=Status.HOLDS_UNDER_READING)
    with pytest.raises(ValueError):
        ClaimVerdict("c", "holds", "e", status="maybe")
    with pytest.raises(TypeError):  # status is required
        ClaimVerdict("c", "holds", "e")


def test_to_dict_puts_status_next_to_the_prose():
    c = lemma41().claims[1]
    assert list(c.to_dict()) == ["claim", "verdict", "status", "explanation", "scope"]
    assert c.to_dict()["status"] == "fails"
    assert str(Status.FAILS) == f"{Status.FAILS}" == "fails"
