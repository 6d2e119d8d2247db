"""The noise comparison of ``eoss reproduce`` (the paper's Fig. 10), per preset.

SGD, plain GD and GD with each of the three injected-noise covariances
(:mod:`eoss.empirical.training.noise`), as ``(name, overrides)`` runs, and the
settings they share in each preset (on top of the study's base). The runs are
independent and run side by side (:mod:`eoss.analysis.cli.plan`).
"""

from __future__ import annotations

from collections.abc import Mapping

Overrides = Mapping[str, object]

# Fig. 10 in the quick preset: GD costs a full gradient per step, so the noise runs
# use 256 images (the SGD control at the same n, b and eta is the "sgd" variant);
# measured at 2000 steps, every variant's FullBS level is set by step 250-500.
QUICK_NOISE_BASE: Overrides = {
    "data.n_train": 256,
    "batch_size": 16,
    "steps": 1200,
    # every 50: 5 points in the 20 % stationarity tail, enough for a HAC SE (>= 4)
    "track.eval.every": 100,
    "track.fullbs.every": 50,
    "track.minibs.every": 50,
    "track.step_sharpness.every": 0,
    "track.ntk.every": 0,
    "track.n_batches": 8,
}
CPU_NOISE_BASE: Overrides = {
    "data.n_train": 1024,
    "batch_size": 32,
    "steps": 5000,
    "track.ntk.every": 0,
}

# SGD, plain GD and GD with each of the three injected-noise covariances (Fig. 10).
NOISY_GD: Overrides = {"optim.name": "noisy_gd", "noise.kind": "gaussian"}
NOISE_VARIANTS: tuple[tuple[str, Overrides], ...] = (
    ("sgd", {}),
    ("gd", {"optim.name": "gd"}),
    ("noise-full", NOISY_GD),
    ("noise-diagonal", {**NOISY_GD, "noise.kind": "diagonal"}),
    ("noise-isotropic", {**NOISY_GD, "noise.kind": "isotropic"}),
)

GPU_NOISE: tuple[tuple[str, Overrides], ...] = tuple(
    (name, o) for name, o in NOISE_VARIANTS if name != "sgd"
)  # the sweep run at the imitated b is the SGD control (same eta, n, b)
