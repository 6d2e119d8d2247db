"""How far eoss's general-path products are from their FLOP floor.

The floor of a reverse-over-reverse Hessian-vector product on a retained gradient
graph is about one more backward pass of that graph, i.e. roughly one to two
gradients (PERF-NOTES: 1.15–1.3 gradients on the MLP, whose first layer
dominates). Measured on the same batch, medians of interleaved repeats:

* ``grad_ms``: one plain autograd gradient of the batch loss (forward + backward,
  the caller's model copy in the problem's BatchNorm regime);
* ``hvp_ms``: one product of the exact single-batch operator
  (:class:`eoss.empirical.operators.hessian.HessianOperator`, the ``loop`` path),
  graph already built;
* ``batched_hvp_ms``: one product of the vmapped operator of all K batches
  (:class:`eoss.empirical.operators.stacked.StackedBatchHessian`, the ``plain``
  path), divided by K.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - torch convention

from eoss.empirical.losses import get_loss
from eoss.empirical.operators import batched as _batched
from eoss.empirical.operators.hessian import minibatch_hessian
from eoss.empirical.operators.kernels import second_order_kernels

REPEATS, CALLS = 5, 3


def _ms(fn) -> float:
    t0 = time.perf_counter()
    for _ in range(CALLS):
        fn()
    return (time.perf_counter() - t0) / CALLS * 1e3


def flop_floor(p, idx) -> dict:
    """Gradient and product times (ms) on the problem ``p`` and batches ``idx``.

    Args:
        p: A :class:`peer_models.Problem`.
        idx: (K, b) batch rows.

    Returns:
        ``grad_ms``, ``hvp_ms``, ``batched_hvp_ms`` (per batch) and ``K``.
    """
    loss = get_loss("ce")
    rows = torch.as_tensor(idx)
    X0, y0 = p.X[rows[0]], p.y[rows[0]]
    model = copy.deepcopy(p.model)
    params = [t for t in model.parameters() if t.requires_grad]

    def gradient() -> None:
        with second_order_kernels():
            torch.autograd.grad(F.cross_entropy(model(X0), y0), params)

    H = minibatch_hessian(p.model, loss, X0, y0, bn_mode=p.bn_mode)
    setup = _batched.setup(p.model, p.bn_mode, p.X[:2])
    Xs = _batched.cast_inputs(p.X[rows], setup.like)
    op, _ = _batched.stacked(setup, loss, Xs, p.y[rows], "plain")
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(H.dim, generator=gen)
    V = torch.randn(op.K, op.dim, generator=gen)
    fns = {
        "grad_ms": gradient,
        "hvp_ms": lambda: H.matvec_torch(v),
        "batched_hvp_ms": lambda: op.matvec(V),
    }
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()  # warm-up (and the graph builds)
    for _ in range(REPEATS):
        for name, fn in fns.items():
            times[name].append(_ms(fn))
    out = {k: float(np.median(t)) for k, t in times.items()}
    out["batched_hvp_ms"] /= op.K
    out["K"] = int(op.K)
    return out
