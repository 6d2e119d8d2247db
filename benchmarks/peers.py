"""eoss beside curvlinops, hessian-eigenthings and PyHessian (issue 10, section 3).

Per-batch λ_max(H_B) at b = 16 on the same K = 8 batches of the three problems
of ``benchmarks/peer_models.py`` (MLP 3072-h-h-10 and a BatchNorm CNN on CIFAR-10,
a two-block transformer encoder on integer tokens), each after a short seeded
training:

* eoss ``minibatch_sharpness`` with ``method="auto"`` (what a user gets) and
  ``"loop"`` (one exact operator and one Lanczos per batch), tol 1e-3;
* curvlinops ``HessianLinearOperator(...).to_scipy()`` + scipy
  ``eigsh(k=1, which="LA", tol=1e-3)`` (``check_deterministic=False``: its
  check costs extra products);
* hessian-eigenthings ``HessianOperator`` + its ``lanczos(k=1, which="LA",
  max_iter=21)`` (a fixed Krylov size: 21 is what eoss spends, 20 steps + 1);
* PyHessian ``hessian(...).eigenvalues(tol=1e-3)`` (power iteration). PyHessian
  switches the model to eval mode (``model.eval()`` in its constructor), so it
  cannot take train-mode BatchNorm Hessians: on the CNN it is compared with an
  eval-mode reference and with eoss in eval mode (rows marked "eval BN").
  The other peers get train-mode BatchNorm with ``track_running_stats=False``
  (batch statistics without the in-place running-statistics update, which
  ``torch.func`` rejects): the Hessian eoss takes with ``bn_mode="train"``.

Errors are against a tight reference: eoss ``loop`` in float64 at tol 1e-9
(residual-certified). Seconds per batch include building each operator; eoss's
include its setup and self-check. Every timing is the median over ``--repeats``
interleaved repeats, with the load average printed beside it; ratios are taken
in the same run. The transformer's peers run inside eoss's
``second_order_kernels()`` (PyTorch's default CPU attention kernel has no
double backward; a peer's user has to do the same).

Peers live in a separate, optional virtual environment (a peer that is not
importable is skipped)::

    python3 -m venv .venv-peers
    .venv-peers/bin/pip install torch==2.13.0 curvlinops-for-pytorch pyhessian \
        hessian-eigenthings
    .venv-peers/bin/pip install -e .
    .venv-peers/bin/python benchmarks/peers.py            # ~10 min on 2 cores
    .venv-peers/bin/python benchmarks/peers.py --models cnn --repeats 1 --json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported

import argparse  # noqa: E402
import copy  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse.linalg as sla  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402, N812
from peer_models import Problem, build  # noqa: E402
from peer_products import flop_floor  # noqa: E402
from torch import nn  # noqa: E402

from eoss.empirical.estimators.minibatch import minibatch_sharpness  # noqa: E402
from eoss.empirical.operators.batched import sample_batches  # noqa: E402
from eoss.empirical.operators.kernels import second_order_kernels  # noqa: E402

B, K, TOL = 16, 8, 1e-3
REF_TOL = 1e-9
PEERS = {
    "curvlinops": "curvlinops",
    "hessian-eigenthings": "hessian_eigenthings",
    "pyhessian": "pyhessian",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def model_in(p: Problem, bn_mode: str, dtype: torch.dtype = torch.float32):
    """A private copy of the model in ``bn_mode`` (train: BatchNorm batch stats).

    In train mode the BatchNorm layers stop tracking running statistics: the
    same function of the parameters (batch statistics), but no in-place buffer
    update, which curvlinops' ``torch.func`` transforms reject.
    """
    m = copy.deepcopy(p.model).to(dtype)
    m.train(bn_mode == "train")
    for sub in m.modules():
        if bn_mode == "train" and isinstance(sub, nn.modules.batchnorm._BatchNorm):
            sub.track_running_stats = False
    return m


def eoss_run(p: Problem, idx, method: str, bn_mode: str, **kw) -> dict:
    """``minibatch_sharpness`` over the K batches; seconds per batch."""
    dtype = kw.pop("dtype", torch.float32)
    X = p.X.to(dtype) if p.X.is_floating_point() else p.X
    model = copy.deepcopy(p.model).to(dtype)  # eoss leaves it as it is
    t0 = time.perf_counter()
    r = minibatch_sharpness(
        model,
        "ce",
        (X, p.y),
        batch_size=B,
        n_batches=K,
        rng=np.random.default_rng(1),
        method=method,
        bn_mode=bn_mode,
        batch_indices=idx,
        batch_sharpness=False,
        **kw,
    )
    sec = (time.perf_counter() - t0) / K
    return {"lam": r.lambda_max, "sec": sec, "hvps": r.n_matvecs, "path": r.method}


def reference(p: Problem, idx, bn_mode: str) -> np.ndarray:
    """Float64 eoss loop at tol 1e-9 (every batch certified)."""
    kw = {"tol": REF_TOL, "min_iter": 30, "max_iter": 600, "dtype": torch.float64}
    out = eoss_run(p, idx, "loop", bn_mode, **kw)
    return out["lam"]


def per_batch(solve, p: Problem, idx, bn_mode: str) -> dict:
    """Time ``solve(model, X_B, y_B, seed) -> (λ, hvps)`` batch by batch."""
    lam, hvps, total = [], [], 0.0
    for k, rows in enumerate(torch.as_tensor(idx)):
        model = model_in(p, bn_mode)
        t0 = time.perf_counter()
        with second_order_kernels():
            value, n = solve(model, p.X[rows], p.y[rows], k)
        total += time.perf_counter() - t0
        lam.append(value)
        hvps.append(n)
    return {"lam": np.array(lam), "sec": total / len(idx), "hvps": max(hvps)}


def curvlinops_solve(model, X, y, seed):
    from curvlinops import HessianLinearOperator

    params = [t for t in model.parameters() if t.requires_grad]
    H = HessianLinearOperator(
        model, torch.nn.CrossEntropyLoss(), params, [(X, y)], check_deterministic=False
    ).to_scipy(dtype=np.float32)
    count = [0]

    def mv(v):
        count[0] += 1
        return H.matvec(v)

    op = sla.LinearOperator(H.shape, matvec=mv, dtype=np.float32)
    v0 = np.random.default_rng(seed).standard_normal(H.shape[0]).astype(np.float32)
    lam = sla.eigsh(op, k=1, which="LA", tol=TOL, v0=v0, return_eigenvectors=False)
    return float(lam[0]), count[0]


def eigenthings_solve(model, X, y, seed):
    from hessian_eigenthings import HessianOperator, lanczos

    op = HessianOperator(model, [(X, y)], lambda m, b: F.cross_entropy(m(b[0]), b[1]))
    count, matvec = [0], op.matvec

    def mv(v):
        count[0] += 1
        return matvec(v)

    op.matvec = mv
    res = lanczos(op, k=1, max_iter=21, tol=TOL, which="LA", seed=seed)
    return float(res.eigenvalues[0]), count[0]


def pyhessian_solve(model, X, y, seed):
    import pyhessian.hessian  # noqa: F401 (the package shadows it with a class)

    ph = sys.modules["pyhessian.hessian"]
    count, hvp = [0], ph.hessian_vector_product

    def counted(*a, **kw):
        count[0] += 1
        return hvp(*a, **kw)

    torch.manual_seed(seed)  # PyHessian draws its start from the global RNG
    ph.hessian_vector_product = counted
    try:
        h = ph.hessian(model, torch.nn.CrossEntropyLoss(), data=(X, y), cuda=False)
        lam = h.eigenvalues(maxIter=100, tol=TOL, top_n=1)[0][0]
    finally:
        ph.hessian_vector_product = hvp
    return float(lam), count[0]


SOLVERS = {
    "curvlinops": curvlinops_solve,
    "hessian-eigenthings": eigenthings_solve,
    "pyhessian": pyhessian_solve,
}


def rows_for(p: Problem, idx) -> dict:
    """name -> (runner, bn_mode of its Hessians) for this problem."""
    bn = p.bn_mode
    runs = {
        "eoss auto": (lambda: eoss_run(p, idx, "auto", bn), bn),
        "eoss loop": (lambda: eoss_run(p, idx, "loop", bn), bn),
    }
    for name, mod in PEERS.items():
        if importlib.util.find_spec(mod) is None:
            log(f"  {name}: not importable, skipped")
            continue
        mode = "eval" if name == "pyhessian" else bn
        runs[name] = (lambda s=SOLVERS[name], m=mode: per_batch(s, p, idx, m), mode)
    if bn == "train":  # PyHessian only does eval-mode BN: eoss like for like
        runs["eoss auto (eval BN)"] = (lambda: eoss_run(p, idx, "auto", "eval"), "eval")
    return runs


def measure(p: Problem, repeats: int) -> dict:
    """All rows for one problem: median seconds, max error, HVPs, load."""
    idx = sample_batches(len(p.y), B, K, np.random.default_rng(7))
    load0 = load()
    refs = {m: reference(p, idx, m) for m in {p.bn_mode, "eval"}}
    runs = rows_for(p, idx)
    out: dict = {name: {"sec": []} for name in runs}
    for rep in range(repeats):
        for name, (run, mode) in runs.items():
            res = run()
            row = out[name]
            row["sec"].append(res["sec"])
            if rep == 0:
                err = np.abs(res["lam"] - refs[mode]) / np.abs(refs[mode])
                row.update(err_max=float(err.max()), err_med=float(np.median(err)))
                row.update(hvps=int(res["hvps"]), bn=mode, path=res.get("path", ""))
            log(f"  {name:22s} rep {rep}: {res['sec']:.3f} s/batch  ({load()})")
    for row in out.values():
        row["sec_med"] = float(np.median(row["sec"]))
    floor = flop_floor(p, idx)
    return {
        "rows": out,
        "floor": floor,
        "load": f"{load0} -> {load()}",
        "ref_mean": float(np.mean(refs[p.bn_mode])),
        "params": sum(t.numel() for t in p.model.parameters()),
        "data": p.data_source,
    }


def best_exact_peer(rows: dict, mode: str) -> str | None:
    """The fastest peer whose every batch is within TOL of the reference."""
    exact = [
        (r["sec_med"], n)
        for n, r in rows.items()
        if n in PEERS and r["bn"] == mode and r["err_max"] <= TOL
    ]
    return min(exact)[1] if exact else None


def table(name: str, res: dict, bn_mode: str) -> str:
    rows = res["rows"]
    lines = [
        f"### {name} ({res['params']:,} parameters, {res['data']}, load {res['load']})",
        "",
        "| method | BN | s/batch (median) | HVPs/batch (max) | max rel. error "
        "| median rel. error | eoss auto speed-up |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for n, r in rows.items():
        base = rows["eoss auto (eval BN)" if r["bn"] != bn_mode else "eoss auto"]
        path = f" → {r['path']}" if r.get("path") else ""
        lines.append(
            f"| {n}{path} | {r['bn']} | {r['sec_med']:.3f} | {r['hvps']} | "
            f"{r['err_max']:.1e} | {r['err_med']:.1e} | "
            f"{r['sec_med'] / base['sec_med']:.2f}× |"
        )
    best = best_exact_peer(rows, bn_mode)
    if best is not None:
        ratio = rows[best]["sec_med"] / rows["eoss auto"]["sec_med"]
        lines.append(f"\nBest exact peer: {best}; eoss auto is {ratio:.2f}× as fast.")
    f = res["floor"]
    lines.append(
        f"Products: one gradient {f['grad_ms']:.1f} ms; HVP {f['hvp_ms']:.1f} ms "
        f"({f['hvp_ms'] / f['grad_ms']:.2f} gradients) one batch at a time, "
        f"{f['batched_hvp_ms']:.1f} ms per batch vmapped over {K} "
        f"({f['batched_hvp_ms'] / f['grad_ms']:.2f} gradients)."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["mlp", "cnn", "transformer"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--n", type=int, default=2048, help="data points per problem")
    ap.add_argument("--width", type=int, default=512, help="MLP hidden width")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    log(f"torch {torch.__version__}, {args.threads} threads, load {load()}")
    results = {}
    for name in args.models:
        p = build(name, args.n, width=args.width)
        log(f"{name}: trained, measuring")
        results[name] = measure(p, args.repeats)
        print(table(name, results[name], p.bn_mode) + "\n", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
