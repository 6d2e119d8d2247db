r"""What a reproduction's training costs on this device, from a short timed probe.

``eoss reproduce --dry-run`` lists every training run of the plan (sweep points,
forks, the static-gap source, the noise variants) with its steps, and estimates
its wall time as

.. math::

    T(\text{run}) = \text{steps} \cdot t_{\text{step}}(b)
        + \sum_{q} n_q(\text{run})\, t_q,

where :math:`t_{\text{step}}(b) = a + c\,b` is fitted from two probes (the
smallest and the largest b of the plan, each trained for 2 and 12 steps so the
start-up cost cancels), :math:`n_q` is the number of measurements of quantity q
(``eval``, ``fullbs``, ``minibs``, ``step_sharpness``, ``ntk``) that the run's
cadence makes (:func:`eoss.empirical.training.schedules.cadence_steps`), and
:math:`t_q` is timed from a one-step probe that measures only q (twice: at steps
0 and 1), at the smallest b. The probes train the plan's own model and data on
the chosen device, in a temporary folder. Runs sharing a device in parallel
(``--jobs``) are not credited: the figure is device time, serial. The
derivations, simulations, static gap and report are not included; forks are
costed for all their steps and noise-injection variants as plain SGD steps.
"""

from __future__ import annotations

import contextlib
import copy
import io
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

QUANTITIES = ("eval", "fullbs", "minibs", "step_sharpness", "ntk")
_OFF = {"every": 0, "log_points": 0, "thin": 0}

__all__ = ["estimate", "format_estimate", "training_runs"]


def training_runs(stages: list[Any]) -> list[dict[str, Any]]:
    """Every training run of a plan, with its full config.

    Args:
        stages: :func:`eoss.analysis.cli.plan.plan` output.

    Returns:
        Dicts with ``stage``, ``batch_size``, ``steps``, ``config``.
    """
    runs = []
    for st in stages:
        configs = [dict(point.config) for point in st.points]  # one run each
        if st.config is not None:  # a grid over batch sizes and seeds
            base, grid = dict(st.config.config), _grid(st.argv)
            configs += [
                {**base, "batch_size": int(b)}
                for b in grid.get("batch_size", [base["batch_size"]])
                for _ in grid.get("seed", [base["seed"]])
            ]
        for cfg in map(copy.deepcopy, configs):
            runs.append(
                {
                    "stage": st.name,
                    "batch_size": int(cfg["batch_size"]),
                    "steps": cfg["steps"],
                    "config": cfg,
                }
            )
    return runs


def _grid(argv: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for flag, item in zip(argv, argv[1:], strict=False):
        if flag == "--grid":
            key, _, values = item.partition("=")
            out[key] = values.split(",")
    return out


def _probe_config(base: Mapping[str, Any], b: int, steps: int, q: str | None) -> dict:
    cfg = copy.deepcopy(dict(base))
    cfg.update(batch_size=b, steps=steps)
    cfg.pop("schedule", None)
    cfg.pop("stop", None)  # no stop rule in a probe (its measurements are off)
    for name in QUANTITIES:
        cfg["track"][name] = {"every": 1} if name == q else dict(_OFF)
    cfg["checkpoint"] = {**cfg.get("checkpoint", {}), "every": 10**9, "keep_every": 0}
    return cfg


def _timed_train(cfg: dict, folder: Path, device: str, data_root: str | None) -> float:
    """Seconds of one in-process ``eoss train`` of ``cfg``."""
    from eoss.analysis import records
    from eoss.analysis.cli.main import main

    name = f"probe-{len(list(folder.glob('*.json')))}"
    path = folder / f"{name}.json"
    records.write_json(path, cfg)
    argv = ["train", "--config", str(path), "--out", str(folder), "--name", name]
    argv += ["--quiet", "--device", device]
    if data_root:
        argv += ["--data-root", data_root]
    t0 = time.perf_counter()
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        code = main(argv)
    if code != 0:
        raise RuntimeError(f"probe run {cfg['batch_size']=} exited {code}")
    return time.perf_counter() - t0


def estimate(
    runs: list[dict[str, Any]], device: str, data_root: str | None
) -> dict[str, Any]:
    """Time the probes and estimate every run.

    Args:
        runs: :func:`training_runs` output (non-empty).
        device: Device to probe on.
        data_root: CIFAR-10 root (when the runs read it).

    Returns:
        ``{"step": (a, c), "per_measurement": {q: s}, "runs": [...seconds...],
        "total_seconds": ..., "probe_seconds": ...}``.
    """
    from eoss.analysis.cli.overrides import from_dict
    from eoss.empirical.training.config import TrainConfig
    from eoss.empirical.training.schedules import cadence_steps

    t_start = time.perf_counter()
    base = runs[0]["config"]
    bs = sorted({r["batch_size"] for r in runs})
    lo, hi = bs[0], bs[-1]
    with tempfile.TemporaryDirectory(prefix="eoss-probe-") as tmp:
        folder = Path(tmp)

        def t(b: int, steps: int, q: str | None = None) -> float:
            return _timed_train(_probe_config(base, b, steps, q), folder, device,
                                data_root)  # fmt: skip

        t(lo, 1)  # warm-up: imports, data cache, kernels
        per_step = {b: max(0.0, (t(b, 12) - t(b, 2)) / 10) for b in {lo, hi}}
        one = t(lo, 1)
        per_q = {q: max(0.0, (t(lo, 1, q) - one) / 2) for q in _used(runs)}
    c = (per_step[hi] - per_step[lo]) / (hi - lo) if hi > lo else 0.0
    a = per_step[lo] - c * lo
    seconds = []
    for r in runs:
        cfg = from_dict(TrainConfig, r["config"])
        n = {q: len(cadence_steps(getattr(cfg.track, q), cfg.steps)) for q in per_q}
        measure = sum(n[q] * per_q[q] for q in per_q)
        seconds.append(cfg.steps * max(0.0, a + c * r["batch_size"]) + measure)
    return {
        "step": (a, c),
        "per_measurement": per_q,
        "runs": seconds,
        "total_seconds": float(sum(seconds)),
        "probe_seconds": time.perf_counter() - t_start,
    }


def _used(runs: list[dict[str, Any]]) -> list[str]:
    """The quantities some run measures."""
    from eoss.analysis.cli.overrides import from_dict
    from eoss.empirical.training.config import TrainConfig

    cfgs = [from_dict(TrainConfig, r["config"]) for r in runs]
    return [q for q in QUANTITIES if any(getattr(c.track, q).enabled for c in cfgs)]


def format_estimate(runs: list[dict[str, Any]], est: dict[str, Any] | None) -> str:
    """The runs and their estimated cost, as lines of text.

    Args:
        runs: :func:`training_runs` output.
        est: :func:`estimate` output, or None (no probe).

    Returns:
        The text.
    """
    lines = [f"training runs: {len(runs)}, "
             f"{sum(r['steps'] for r in runs):,} SGD steps in all"]  # fmt: skip
    for i, r in enumerate(runs):
        cost = "" if est is None else f"  ~{_hours(est['runs'][i])}"
        lines.append(f"  {r['stage']:<14} b={r['batch_size']:<5} "
                     f"{r['steps']:>8,} steps{cost}")  # fmt: skip
    if est is not None:
        a, c = est["step"]
        per_q = ", ".join(f"{q} {s:.3g} s" for q, s in est["per_measurement"].items())
        lines.append(
            f"probe ({est['probe_seconds']:.0f} s): step {a * 1e3:.3g} ms "
            f"+ {c * 1e6:.3g} us x b; per measurement: {per_q or 'none'}"
        )
        lines.append(
            f"estimated training cost on this device: {_hours(est['total_seconds'])}"
            " of device time, serial (derive, simulate, static gap, report extra)"
        )
    return "\n".join(lines)


def _hours(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
