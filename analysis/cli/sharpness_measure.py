"""The sharpness measurement of ``eoss sharpness``: FullBS, MiniBS and the gap.

:func:`measure_sharpness` takes an already-built model and data set and returns a
JSON-safe record: FullBS = λ_max(∇²L) (Lanczos, residual-certified), MiniBS = the
mean over K batches of λ_max(∇²L_B) with its standard error, batch sharpness, the
gap MiniBS − FullBS and its control-variate form, the solver's accounting and
warnings. :func:`format_table` is its human-readable summary. Where the model and
data come from is :mod:`eoss.analysis.cli.sharpness` (the command).
"""

from __future__ import annotations

from typing import Any


def measure_sharpness(
    model: Any,
    loss: Any,
    data: Any,
    *,
    batch_size: int,
    n_batches: int,
    seed: int,
    chunk_size: int = 1024,
    tol: float = 1e-3,
    method: str = "auto",
    max_iter: int = 200,
    progress: Any = None,
    process_group: Any = None,
) -> dict[str, Any]:
    """FullBS, MiniBS, batch sharpness and gaps of a built model on a data set.

    Seed streams: ``fullbs`` drives the full-batch Lanczos start, ``minibs`` the
    batch sampling and the mini-batch start vectors (:mod:`eoss.empirical.rng`).

    Args:
        model: ``nn.Module`` (not modified).
        loss: :class:`eoss.empirical.losses.Loss`.
        data: :class:`eoss.empirical.data.arrays.ArrayDataset` in the model's dtype.
        batch_size: b.
        n_batches: K.
        seed: Run seed.
        chunk_size: Rows per full-batch HVP chunk.
        tol: Relative residual target of every eigenvalue.
        method: Mini-batch solver path (see :mod:`eoss.empirical.estimators.minibatch`).
        max_iter: Lanczos step cap of every solve (non-convergence is reported in
            ``warnings``).
        progress: Optional callable receiving progress lines.
        process_group: ``torch.distributed`` group to split the work over
            (``torchrun``; every rank passes the same arguments), or None.

    Returns:
        A JSON-safe dict (keys listed in ``docs/spectral-core.md``).
    """
    from eoss.empirical.estimators.full_batch import full_sharpness
    from eoss.empirical.estimators.minibatch import minibatch_sharpness
    from eoss.empirical.rng import numpy_rng

    say = progress or (lambda line: None)
    say(f"FullBS over {len(data)} rows ...")
    full = full_sharpness(
        model,
        loss,
        data,
        rng=numpy_rng(seed, "fullbs"),
        chunk_size=chunk_size,
        tol=tol,
        max_iter=max_iter,
        process_group=process_group,
    )
    say(f"FullBS = {full.fullbs:.6g} ({full.n_matvecs} HVPs, {full.seconds:.1f} s)")
    mini = minibatch_sharpness(
        model,
        loss,
        data,
        batch_size=batch_size,
        n_batches=n_batches,
        rng=numpy_rng(seed, "minibs"),
        tol=tol,
        full_vector=full.eigenvector,
        method=method,
        max_iter=max_iter,
        progress=say,
        process_group=process_group,
    )
    say(f"MiniBS = {mini.minibs:.6g} ± {mini.minibs_se:.2g} ({mini.seconds:.1f} s)")
    return _result_dict(loss, data, full, mini, seed, chunk_size, tol)


def _solver_dict(full: Any, mini: Any, chunk_size: int, tol: float) -> dict:
    return {
        "tol": tol,
        "chunk_size": chunk_size,
        "fullbs": {
            "residual": full.residual,
            "converged": full.converged,
            "n_matvecs": full.n_matvecs,
            "seconds": full.seconds,
        },
        "minibs": {
            "method": mini.method,
            "residual_max": float(mini.residuals.max()),
            "n_converged": int(mini.converged.sum()),
            "n_matvecs": mini.n_matvecs,
            "seconds": mini.seconds,
        },
    }


def _warnings(full: Any, mini: Any) -> list[str]:
    out = []
    if not full.converged:
        out.append(f"FullBS did not converge (residual {full.residual:.3g})")
    n_bad = int((~mini.converged).sum())
    if n_bad:
        out.append(f"{n_bad} of {len(mini.converged)} batches did not converge")
    return out


def _result_dict(loss, data, full, mini, seed, chunk_size, tol) -> dict[str, Any]:
    return {
        "fullbs": full.fullbs,
        "minibs": mini.minibs,
        "minibs_se": mini.minibs_se,
        "batch_sharpness": mini.batch_sharpness,
        "batch_sharpness_se": mini.batch_sharpness_se,
        "gap": mini.minibs - full.fullbs,
        "gap_se": mini.minibs_se,
        "gap_cv": mini.gap_cv,
        "gap_cv_se": mini.gap_cv_se,
        "batch_size": mini.batch_size,
        "n_batches": len(mini.lambda_max),
        "seed": seed,
        "loss": loss.name,
        "loss_formula": loss.formula,
        "data": {
            "name": data.name,
            "n": len(data),
            "input_shape": list(data.input_shape),
            "num_classes": data.num_classes,
            "provenance": data.provenance,
        },
        "solver": _solver_dict(full, mini, chunk_size, tol),
        "per_batch": {
            "batch_indices": mini.batch_indices,
            "lambda_max": mini.lambda_max,
            "batch_sharpness": mini.batch_sharpness_terms,
            "cv": mini.cv_terms,
        },
        "warnings": _warnings(full, mini),
    }


def format_table(result: dict[str, Any]) -> str:
    """Human-readable summary of a :func:`measure_sharpness` result.

    Args:
        result: The result dict.

    Returns:
        A few aligned lines.
    """
    rows = [
        ("FullBS", result["fullbs"], None),
        ("MiniBS", result["minibs"], result["minibs_se"]),
        ("batch sharpness", result["batch_sharpness"], result["batch_sharpness_se"]),
        ("gap (MiniBS - FullBS)", result["gap"], result["gap_se"]),
        ("gap, control variate", result["gap_cv"], result["gap_cv_se"]),
    ]
    head = (
        f"b = {result['batch_size']}, K = {result['n_batches']}, "
        f"loss {result['loss']}: {result['loss_formula']}"
    )
    lines = [head] + [
        f"  {name:<24}{val:>14.6g}" + ("" if se is None else f"  ± {se:.3g}")
        for name, val, se in rows
    ]
    lines += [f"  warning: {w}" for w in result["warnings"]]
    return "\n".join(lines)
