"""The setting of a figure, as caption text: model, n, η, b, loss, steps, seeds.

Every figure of a trained network states its setting (a reader of one figure
should not need the configuration table): :func:`run_setting` summarises one or
more runs, collapsing a value shared by all of them and giving the range of one
that varies (b across a sweep, seeds across replicates).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eoss.analysis.records.reader import RunTables


def _model(config: dict[str, Any]) -> str:
    m = config.get("model") or {}
    name = str(m.get("name", "?"))
    if name == "mlp" and m.get("width") and m.get("depth"):
        name = f"MLP {m['depth']}×{m['width']}"
    if m.get("init_scale") not in (None, 1.0):
        name += f" (init ×{m['init_scale']:g})"
    return name


def _values(values: Sequence[Any]) -> str:
    """``8`` or ``8–128`` (numbers) or ``a, b`` (text); ``?`` when unrecorded."""
    known = sorted({v for v in values if v is not None}, key=str)
    if not known:
        return "?"
    if all(isinstance(v, (int, float)) for v in known):
        lo, hi = min(known), max(known)
        return f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}"
    return ", ".join(str(v) for v in known)


def run_setting(runs: Sequence[RunTables]) -> str:
    """One line stating the setting of ``runs``.

    Args:
        runs: The runs a figure shows (one or more).

    Returns:
        e.g. ``MLP 2×256 (init ×0.2), n = 1024, η = 0.04, b = 8–128, loss mse,
        3000 steps, seed 0, SGD`` (empty when ``runs`` is empty).
    """
    if not runs:
        return ""
    models = sorted({_model(r.config) for r in runs})
    parts = [
        ", ".join(models),
        f"n = {_values([r.n_train for r in runs])}",
        f"η = {_values([r.lr for r in runs])}",
        f"b = {_values([r.batch_size for r in runs])}",
        f"loss {_values([r.config.get('loss') for r in runs])}",
        f"{_values([r.steps for r in runs])} steps",
        f"seed {_values([r.seed for r in runs])}",
    ]
    opt = _values([r.optimizer for r in runs])
    if opt != "?":
        parts.append(opt.upper() if opt in ("sgd", "gd") else opt)
    return ", ".join(parts)
