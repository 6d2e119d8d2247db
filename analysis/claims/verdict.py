"""The verdict of a claims-table row (supported, not supported, …).

A :class:`Verdict` is what the claim rules (:mod:`eoss.analysis.claims.table`)
compute and what the report (:mod:`eoss.analysis.report.markdown`,
:mod:`eoss.analysis.report.html`) formats; its ``value`` is the text the report
prints. Standard library only, so the HTML renderer can import it cheaply.
"""

from __future__ import annotations

import enum


class Verdict(str, enum.Enum):
    """A claim row's verdict; ``value`` is the text used in tables and files.

    Members compare equal to (and hash like) their values, and ``str()`` /
    ``format()`` give the value, so CSV and JSON writers see plain text.

    Attributes:
        SUPPORTED: The data support the claim under the row's rule.
        NOT_SUPPORTED: The data contradict it under the row's rule.
        INCONCLUSIVE: The data cannot decide (too imprecise, or rivals fit too).
        NOT_MEASURED: The inputs do not speak to the claim.
    """

    SUPPORTED = "supported"
    NOT_SUPPORTED = "not supported"
    INCONCLUSIVE = "inconclusive"
    NOT_MEASURED = "not measured"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def css_class(self) -> str:
        """The report's CSS class for a cell holding this verdict.

        Returns:
            ``"v-"`` + the value with spaces as hyphens (``"v-not-supported"``).
        """
        return "v-" + self.value.replace(" ", "-")
