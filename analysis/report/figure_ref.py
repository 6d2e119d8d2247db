"""A figure of the report: its files and caption."""

from __future__ import annotations

import re
from dataclasses import dataclass

PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


@dataclass(frozen=True)
class FigureRef:
    """A saved figure.

    Attributes:
        section: Report section it belongs to.
        name: File stem under ``figures/``.
        caption: One-sentence caption.
    """

    section: str
    name: str
    caption: str

    @property
    def png(self) -> str:
        """Relative path of the PNG."""
        return f"figures/{self.name}.png"


def safe_name(text: str) -> str:
    """A file-name-safe version of ``text``.

    Args:
        text: Any label.

    Returns:
        Letters, digits, ``-``, ``_`` and ``.`` only.
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"
