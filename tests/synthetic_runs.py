"""Synthetic producer outputs in the documented schema (docs/records.md), for tests.

Everything is generated from explicit seeds and closed-form curves, so tests know the
truth: MiniBS rises to ``level`` × 2/η and plateaus with AR(1) noise; FullBS sits a
known gap below; static / simulated gap curves follow known power laws.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eoss.analysis.records.io import write_csv, write_json
from eoss.analysis.records.run_dir import RunDir

ENV = {
    "python": "3.11.0",
    "versions": {"numpy": "2.4.6", "torch": "2.13.0", "statsmodels": "0.15.0"},
    "git_revision": "0123456789abcdef",
    "device": "cpu",
}


def _ar1(rng: np.random.Generator, n: int, sd: float, phi: float = 0.5) -> np.ndarray:
    e = rng.normal(0.0, sd * np.sqrt(1 - phi**2), n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + e[i]
    return out


def write_train_run(
    root: Path,
    name: str,
    *,
    lr: float = 0.02,
    batch_size: int = 16,
    steps: int = 2000,
    every: int = 50,
    level: float = 1.05,
    gap: float = 0.2,
    start: float = 0.2,
    tau: float = 150.0,
    noise_sd: float = 0.01,  # tail drifts of a flat fixture well inside τ = 0.05
    seed: int = 0,
    noise_kind: str = "none",
    fullbs_level: float | None = None,
    schedule: Sequence[tuple[int, float, int]] = (),
    ntk_ratio: float | None = None,
    converge: bool = False,
    status: str = "finished",
    jpeg: bool = False,
    n_train: int = 1024,
    optimizer: str | None = None,
    minibs_batch_size: int | None = None,
    drift: float = 0.0,
    converged: Sequence[bool] | None = None,
) -> Path:
    """One training run directory with metrics in the documented tables.

    MiniBS/(2/η) = level − (level − start)·exp(−t/τ) (+ AR(1) noise of sd noise_sd),
    restarting its approach after each schedule change (step, lr, b) towards
    ``level`` × the new 2/η. FullBS = MiniBS − gap × 2/η (or ``fullbs_level`` × 2/η
    when given). ``converge`` makes the loss fall 1000×. ``optimizer`` overrides
    ``optim.name`` ("gd": full batch; pass ``batch_size=n_train``);
    ``minibs_batch_size`` is the b the MiniBS rows are recorded at (default: the
    phase's b; full-batch GD measures MiniBS at a smaller b). ``drift`` adds a
    linear ramp of MiniBS, batch sharpness and FullBS of ``drift`` × 2/η over the
    whole run (a run still sharpening). ``converged`` gives each measurement's
    FullBS ``converged`` flag (and MiniBS ``n_converged`` = 32 or 31).
    """
    rng = np.random.default_rng(seed)
    cfg = {
        "lr": lr,
        "batch_size": batch_size,
        "steps": steps,
        "seed": seed,
        "loss": "mse",
        "model": {"name": "mlp", "width": 64, "depth": 2},
        "data": {"name": "cifar10" if jpeg else "synthetic", "n_train": n_train},
        "optim": {
            "name": optimizer or ("noisy_gd" if noise_kind != "none" else "sgd")
        },
        "noise": {"kind": noise_kind},
        "schedule": {
            "lr_at": [s for s, _, _ in schedule],
            "lr_values": [v for _, v, _ in schedule],
        },
    }
    env = dict(ENV)
    if jpeg:
        env["data_provenance"] = {"note": "pixels JPEG-decoded (q75), not bit-exact"}
    run = RunDir.create(root, "train", cfg, name=name, env=env)
    phases = [(0, lr, batch_size), *schedule]

    def phase_at(t: int) -> tuple[int, float, int]:
        return [p for p in phases if p[0] <= t][-1]

    for t in range(0, steps, 10):
        _, eta, b = phase_at(t)
        loss = np.exp(-t / (steps / (7 if converge else 1))) + 1e-4
        run.append(
            "train", {"step": t, "lr": eta, "batch_size": b, "loss": float(loss)}
        )
    for s, eta, b in schedule:
        old = phase_at(s - 1)
        kind = "lr" if eta != old[1] else "batch_size"
        old_v, new_v = (old[1], eta) if kind == "lr" else (old[2], b)
        run.append("event", {"step": s, "kind": kind, "old": old_v, "new": new_v})
    meas = np.arange(0, steps, every)
    noise = _ar1(rng, len(meas), noise_sd)
    for i, t in enumerate(meas):
        t0, eta, b = phase_at(int(t))
        # MiniBS is continuous across a change: r restarts at level·η_new/η_old.
        s0 = start if t0 == 0 else level * eta / phase_at(t0 - 1)[1]
        r = level - (level - s0) * np.exp(-(t - t0) / tau) + noise[i]
        r += drift * t / steps
        mb = r * 2 / eta
        fb = (
            (fullbs_level * 2 / eta) if fullbs_level is not None else mb - gap * 2 / eta
        )
        fb += rng.normal(0, 0.005 * 2 / eta)
        if fullbs_level is not None:
            fb += drift * t / steps * 2 / eta
        ok = True if converged is None else bool(converged[i])
        se = 0.01 * mb
        gcv = mb - fb + rng.normal(0, 0.002 * 2 / eta)
        run.append(
            "minibs",
            {
                "step": int(t),
                "batch_size": minibs_batch_size or b,
                "n_batches": 32,
                "n_converged": 32 if ok else 31,
                "minibs": mb,
                "minibs_se": se,
                "batch_sharpness": 0.9 * mb,
                "batch_sharpness_se": se,
                "gap_cv": gcv,
                "gap_cv_se": 0.1 * se,
                "residual_max": 1e-4,
                "n_matvecs": 400,
                "seconds": 0.5,
            },
        )
        run.append(
            "fullbs",
            {
                "step": int(t),
                "fullbs": fb,
                "residual": 1e-4,
                "converged": ok,
                "n_matvecs": 20,
                "seconds": 1.0,
            },
        )
        run.append(
            "step_sharpness",
            {
                "step": int(t),
                "lambda_max": mb * (1 + rng.normal(0, 0.1)),
                "residual": 1e-4,
                "n_matvecs": 15,
                "seconds": 0.01,
            },
        )
        if ntk_ratio is not None:
            run.append(
                "ntk",
                {
                    "step": int(t),
                    "batch_size": b,
                    "n_batches": 32,
                    "ntk_lambda_max": ntk_ratio * mb * (1 + rng.normal(0, 0.005)),
                    "ntk_lambda_max_se": se,
                    "seconds": 0.1,
                },
            )
        if t % (2 * every) == 0:
            run.append(
                "eval",
                {
                    "step": int(t),
                    "train_loss": float(
                        np.exp(-t / (steps / (7 if converge else 1))) + 1e-4
                    ),
                    "train_acc": 0.5,
                    "test_loss": 1.0,
                    "test_acc": 0.4,
                },
            )
    run.close()
    run.set_status(status, step=steps)
    return run.path


def write_gap_table(
    folder: Path,
    kind: str,
    batch_sizes: Sequence[int],
    *,
    prefactor: float = 5.0,
    exponent: float = 1.0,
    rel_se: float = 0.03,
    n: int | None = None,
    seed: int = 0,
    config: dict | None = None,
) -> Path:
    """A ``static_gap`` (kind="static") or ``results`` (kind="simulate") table.

    gap = prefactor·b^-exponent·(1 − b/n if n) · exp(noise) with relative noise rel_se.
    """
    rng = np.random.default_rng(seed)
    b = np.asarray(batch_sizes, dtype=float)
    gap = prefactor * b**-exponent * ((1 - b / n) if n else 1.0)
    gap = gap * np.exp(rng.normal(0, rel_se, len(b)))
    rows = []
    for bi, g in zip(b, gap, strict=True):
        fb = 10.0
        rows.append(
            {
                "batch_size": int(bi),
                "n_batches": 64,
                "minibs": fb + g,
                "minibs_se": rel_se * abs(g),
                "fullbs": fb,
                "gap": g,
                "gap_se": rel_se * abs(g) + 1e-12,
                "gap_cv": g,
                "gap_cv_se": rel_se * abs(g) + 1e-12,
            }
        )
    stem = "static_gap" if kind == "static" else "results"
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / f"{stem}.csv", rows)
    write_json(folder / f"{stem}.json", {"config": config or {}, "rows": rows})
    return folder


def write_derive_json(path: Path) -> Path:
    """A ``eoss derive all --json``-shaped document with verdicts and a point."""
    doc = {
        "diagonal-network": {
            "name": "diagonal-network",
            "title": "Two-layer diagonal network",
            "claims": [
                {
                    "claim": "lambda_1 = a1^2 + b1^2",
                    "verdict": "holds under diagonal B",
                    "explanation": "exact",
                    "scope": "B = diag(b1, b2), loss (f-y)^2/2",
                },
                {
                    "claim": "MiniBS = (l1 + l2)/2",
                    "verdict": "holds",
                    "explanation": "exact",
                    "scope": "b = 1",
                },
                {
                    "claim": "lambda_i >= 2",
                    "verdict": "fails",
                    "explanation": "counterexample",
                    "scope": "loss (f-y)^2/2",
                },
            ],
            "verification": {
                "checks": [{"name": "hessian", "passed": True}],
                "passed": True,
            },
            "at": {"a1": 1.0, "b1": 1.0, "a2": -1.0, "b2": 1.0},
            "per_sample_top_eigenvalues": [2.0, 2.0],
            "fullbs": 1.0,
            "minibs_b1": 2.0,
            "minibs_b2_with_replacement": 1.5,
            "minibs_b2_without_replacement": 1.0,
        },
        "lemma41": {
            "name": "lemma41",
            "claims": [
                {
                    "claim": "equality only if identical",
                    "verdict": "ambiguous",
                    "explanation": "equality iff common top eigenvector",
                    "scope": "",
                }
            ],
            "verification": {"checks": [], "passed": True},
        },
    }
    path.write_text(json.dumps(doc, indent=2))
    return path
