r"""The result object shared by every symbolic derivation in :mod:`toy_models`.

A :class:`Derivation` holds sympy expressions (name → ``sp.Expr`` or
``sp.Matrix``), their LaTeX, numeric functions lambdified from them, the verdicts
on the paper's claims, and a ``verify(rng)`` that re-checks the result against
an *independent* numeric computation (complex-step or finite-difference
Hessians written in plain numpy, dense ``eigvalsh``, GD simulation, Monte Carlo)
and returns a :class:`Verification` of named :class:`Check` s.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

VERDICTS = ("holds", "holds under", "fails", "ambiguous")


class Status(str, enum.Enum):
    """What a derivation concludes about one of the paper's statements.

    The prose verdict (:attr:`ClaimVerdict.verdict`) says the same in words and
    names any condition or reading; the status is what code should branch on.
    Members compare equal to their string values.

    Attributes:
        HOLDS: The statement holds as the paper means it (the prose may name a
            hypothesis the paper leaves implicit, e.g. ``lambda > 0``).
        HOLDS_UNDER_READING: It holds only under a reading other than the paper's
            (a particular parametrisation, loss scale, definition of a symbol or
            reason); the prose says which reading.
        FAILS: It is false (the explanation gives the counterexample).
        INCONCLUSIVE: The derivation cannot decide it (prose ``"ambiguous"``).
    """

    HOLDS = "holds"
    HOLDS_UNDER_READING = "holds_under_reading"
    FAILS = "fails"
    INCONCLUSIVE = "inconclusive"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


# The prose each status must start with (checked by ClaimVerdict).
_PROSE = {
    Status.HOLDS: "holds",
    Status.HOLDS_UNDER_READING: "holds under",
    Status.FAILS: "fails",
    Status.INCONCLUSIVE: "ambiguous",
}


@dataclass(frozen=True)
class ClaimVerdict:
    """One statement of the paper and what the derivation says about it.

    Attributes:
        claim: The paper's statement, quoted or paraphrased.
        verdict: ``"holds"``, ``"holds under …"`` (with the condition),
            ``"fails"`` or ``"ambiguous"``.
        explanation: Why, with the derived formula.
        scope: The parametrisation / scaling / reading the verdict refers to.
        status: The verdict as a :class:`Status` (keyword only); the prose must
            agree with it (``HOLDS`` → ``"holds…"``, ``HOLDS_UNDER_READING`` →
            ``"holds under …"``, ``FAILS`` → ``"fails"``, ``INCONCLUSIVE`` →
            ``"ambiguous"``).
    """

    claim: str
    verdict: str
    explanation: str
    scope: str = ""
    status: Status = field(kw_only=True)

    def __post_init__(self) -> None:
        if not any(self.verdict.startswith(v) for v in VERDICTS):
            raise ValueError(f"verdict must start with one of {VERDICTS}")
        status = Status(self.status)
        if not self.verdict.startswith(_PROSE[status]):
            raise ValueError(
                f"status {status.value!r} needs a verdict starting with "
                f"{_PROSE[status]!r}, got {self.verdict!r}"
            )
        object.__setattr__(self, "status", status)

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form.

        Returns:
            ``{"claim", "verdict", "status", "explanation", "scope"}`` (``status``
            is the :class:`Status` value).
        """
        return {
            "claim": self.claim,
            "verdict": self.verdict,
            "status": self.status.value,
            "explanation": self.explanation,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class Check:
    """One numeric check: ``passed`` iff ``max_error <= tolerance``.

    Attributes:
        name: What is compared with what.
        max_error: Largest discrepancy found (absolute unless ``detail`` says).
        tolerance: The threshold, justified in ``detail``.
        detail: How the independent value was computed and why the tolerance.
    """

    name: str
    max_error: float
    tolerance: float
    detail: str = ""

    @property
    def passed(self) -> bool:
        """Whether the check passed (NaN never passes).

        Returns:
            ``max_error <= tolerance``.
        """
        return bool(self.max_error <= self.tolerance)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form.

        Returns:
            The fields plus ``passed``.
        """
        err = float(self.max_error)
        return {
            "name": self.name,
            "max_error": err if np.isfinite(err) else None,
            "tolerance": float(self.tolerance),
            "passed": self.passed,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Verification:
    """The outcome of :meth:`Derivation.verify`.

    Attributes:
        checks: The named checks, in the order they ran.
        seed_info: How the random points were drawn (for reproduction).
    """

    checks: tuple[Check, ...]
    seed_info: str = ""

    @property
    def passed(self) -> bool:
        """Whether every check passed.

        Returns:
            ``all(check.passed)``.
        """
        return all(c.passed for c in self.checks)

    def check(self, name: str) -> Check:
        """The check called ``name``.

        Args:
            name: A check name.

        Returns:
            The check.

        Raises:
            KeyError: If there is no such check.
        """
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form.

        Returns:
            ``{"passed", "seed_info", "checks": [...]}``.
        """
        return {
            "passed": self.passed,
            "seed_info": self.seed_info,
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_markdown(self) -> str:
        """A Markdown table of the checks.

        Returns:
            The table, headed by an overall PASSED/FAILED line.
        """
        head = "PASSED" if self.passed else "FAILED"
        lines = [
            f"**Independent numeric verification: {head}** ({self.seed_info})",
            "",
            "| check | max error (or ratio, see name) | tolerance | passed |",
            "|---|---|---|---|",
        ]
        for c in self.checks:
            mark = "yes" if c.passed else "**NO**"
            name = c.name.replace("|", "\\|")  # keep the table's columns
            lines.append(f"| {name} | {c.max_error:.3g} | {c.tolerance:.3g} | {mark} |")
        return "\n".join(lines)


def lambdify_expressions(
    expressions: Mapping[str, sp.Basic],
) -> tuple[dict[str, Callable[..., Any]], dict[str, tuple[str, ...]]]:
    """Lambdify each expression in the names of its free symbols (sorted).

    Args:
        expressions: name → sympy expression or matrix.

    Returns:
        ``(numeric, arguments)``: name → numpy callable taking the symbols as
        positional arguments in the order ``arguments[name]``.
    """
    numeric: dict[str, Callable[..., Any]] = {}
    arguments: dict[str, tuple[str, ...]] = {}
    for name, expr in expressions.items():
        syms = sorted(expr.free_symbols, key=lambda s: s.name)
        numeric[name] = sp.lambdify(syms, expr, modules="numpy", cse=True)
        arguments[name] = tuple(s.name for s in syms)
    return numeric, arguments


@dataclass(frozen=True)
class Derivation:
    r"""A symbolic derivation with its numeric functions, verdicts and verifier.

    Attributes:
        name: Topic key (``"diagonal-network"``, ``"eos-threshold"``, …).
        title: Human-readable title.
        expressions: name → sympy expression or matrix (the derived results).
        claims: Verdicts on the paper's statements.
        notes: Free-text derivation steps, assumptions and conventions.
        verifier: ``rng -> Verification`` running the independent checks.
        latex_names: symbol name → LaTeX used when printing (e.g.
            ``{"sigma2": r"\sigma^2"}``); the numeric argument names are unchanged.
        numeric: name → lambdified numpy function (see :attr:`arguments`).
        arguments: name → names of the positional arguments of ``numeric[name]``.
    """

    name: str
    title: str
    expressions: Mapping[str, sp.Basic]
    claims: tuple[ClaimVerdict, ...]
    notes: tuple[str, ...]
    verifier: Callable[[np.random.Generator], Verification]
    latex_names: Mapping[str, str] = field(default_factory=dict)
    numeric: Mapping[str, Callable[..., Any]] = field(init=False)
    arguments: Mapping[str, tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        numeric, arguments = lambdify_expressions(self.expressions)
        object.__setattr__(self, "numeric", numeric)
        object.__setattr__(self, "arguments", arguments)

    @property
    def latex(self) -> dict[str, str]:
        """LaTeX of every expression.

        Returns:
            name → ``sp.latex(expr)``.
        """
        return {k: self._latex(v) for k, v in self.expressions.items()}

    def _latex(self, expr: sp.Basic) -> str:
        names = {
            sym: self.latex_names[sym.name]
            for sym in expr.free_symbols
            if sym.name in self.latex_names
        }
        return sp.latex(expr, symbol_names=names)

    def evaluate(self, name: str, **values: float) -> Any:
        """Evaluate ``numeric[name]`` with keyword values for its symbols.

        Args:
            name: Expression name.
            **values: symbol name → value (extra names are ignored).

        Returns:
            The numeric value (float or array).

        Raises:
            KeyError: If ``name`` is unknown or a needed symbol is missing.
        """
        args = self.arguments[name]
        missing = [a for a in args if a not in values]
        if missing:
            raise KeyError(f"{name} needs values for {missing}")
        return self.numeric[name](*(values[a] for a in args))

    def verify(self, rng: np.random.Generator) -> Verification:
        """Check the derivation against an independent numeric computation.

        Args:
            rng: Source of the random test points.

        Returns:
            The :class:`Verification`.
        """
        return self.verifier(rng)

    def to_dict(self, verification: Verification | None = None) -> dict[str, Any]:
        """JSON-safe form.

        Args:
            verification: Include this verification outcome when given.

        Returns:
            ``{"name", "title", "expressions": {name: {"sympy", "latex"}},
            "claims", "notes", "verification"}``.
        """
        return {
            "name": self.name,
            "title": self.title,
            "expressions": {
                k: {"sympy": str(v), "latex": self._latex(v)}
                for k, v in self.expressions.items()
            },
            "claims": [c.to_dict() for c in self.claims],
            "notes": list(self.notes),
            "verification": None if verification is None else verification.to_dict(),
        }

    def to_markdown(
        self,
        verification: Verification | None = None,
        *,
        only: Sequence[str] | None = None,
    ) -> str:
        """Readable Markdown with display LaTeX.

        Args:
            verification: Append this verification outcome when given.
            only: Restrict the listed expressions to these names.

        Returns:
            The Markdown text.
        """
        out = [f"## {self.title}", ""]
        out += [f"- {n}" for n in self.notes]
        out += ["", "### Derived expressions", ""]
        for k, v in self.expressions.items():
            if only is None or k in only:
                out += [f"`{k}`:", "", f"$$ {self._latex(v)} $$", ""]
        out += ["### The paper's claims", ""]
        for c in self.claims:
            scope = f" *[{c.scope}]*" if c.scope else ""
            out.append(f"- **{c.verdict}**{scope}: {c.claim} — {c.explanation}")
        if verification is not None:
            out += ["", verification.to_markdown()]
        return "\n".join(out) + "\n"
