"""Lazy public exports (PEP 562) shared by every package of eoss.

A package lists its public names and the module that defines each; the module is
imported on first use, so ``eoss --help`` does not pay for torch, statsmodels or
matplotlib, and importing one room does not load the whole house.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for a package.

    Args:
        package: The package's dotted name (for error messages).
        exports: Public name → dotted name of the module that defines it.

    Returns:
        ``(__all__, __getattr__, __dir__)`` to assign at the package's top level.
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 - the PEP 562 hook
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    def __dir__() -> list[str]:  # noqa: N807 - the PEP 562 hook
        return sorted(exports)

    return list(exports), __getattr__, __dir__
