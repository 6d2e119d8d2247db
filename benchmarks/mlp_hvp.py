"""Benchmark of the closed-form ReLU-MLP Hessian products and the range restriction.

Problem: the one of ``benchmarks/hessian_core.py`` (MLP 3072-512-512-10 at its
seeded initialisation, ``mse``, random CIFAR-shaped inputs). Two parts, every
ratio measured in the same run on the same batches:

hvp     One mini-batch Hessian-vector product (K = 1), span-reduced space:
        autograd reverse-over-reverse (``StackedBatchHessian``, the ``reduced``
        path) vs the closed-form R-operator (``ReluMLPHessian``) vs the same on
        the range coordinates (``MLPRangeHessian``); agreement of the products.
minibs  MiniBS over K batches to tol 1e-3, step floor 20: the per-batch loop on
        the unreduced Hessian (the official code's approach) vs ``reduced``
        (``minibatch_sharpness(method="reduced")``) vs ``range`` (span
        reduction + range restriction + closed-form products, batched Lanczos in
        chunks of ``CHUNK_BYTES``; ``auto``'s choice for ReLU MLPs), all through
        the public ``minibatch_sharpness``.

Usage::

    python benchmarks/mlp_hvp.py --quick          # N = 1024, K = 16, b <= 64
    python benchmarks/mlp_hvp.py --json           # K = 64, b = 4..256
    python benchmarks/mlp_hvp.py --threads 1 --repeats 3
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from hessian_core import conditions, log, problem  # noqa: E402  (same problem)

from eoss.empirical.estimators.minibatch import minibatch_sharpness  # noqa: E402
from eoss.empirical.operators import batched as _batched  # noqa: E402
from eoss.empirical.operators.batched import sample_batches  # noqa: E402
from eoss.empirical.operators.range_reduction import range_operator  # noqa: E402
from eoss.empirical.operators.relu_mlp import ReluMLPHessian  # noqa: E402
from eoss.empirical.operators.relu_mlp_range import MLPRangeHessian  # noqa: E402
from eoss.empirical.operators.span_reduction import reduce_batches  # noqa: E402
from eoss.empirical.operators.stacked import StackedBatchHessian, stacked_targets  # noqa: E402

TOL = 1e-3
FULL = {"n": 8192, "K": 64, "bs": (4, 16, 64, 256), "loop_K": 16}
QUICK = {"n": 1024, "K": 16, "bs": (4, 16, 64), "loop_K": 8}
# Path -> seed of its Lanczos start vectors (the range path shares reduced's).
METHODS = {"loop": 2, "reduced": 1, "range": 1}


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _per_call(fn, n: int) -> float:
    fn()
    _sync()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    _sync()
    return (time.perf_counter() - t) / n


def hvp_part(model, data, loss, b: int, n_calls: int) -> dict:
    """ms per product of the three operators on one batch, and their agreement."""
    setup = _batched.setup(model, "eval", data.X)
    Xs, ys = data.X[:b].unsqueeze(0), data.y[:b].unsqueeze(0)
    T = stacked_targets(loss, ys, setup.n_out, setup.like.dtype)
    red = reduce_batches(setup.module, setup.params, Xs.to(setup.like))
    auto = StackedBatchHessian(setup.module, setup.buffers, loss, red.params, red.Z, T)
    closed = ReluMLPHessian(setup.module, loss, red.params, red.Z, T)
    rng = MLPRangeHessian(closed)
    gen = torch.Generator().manual_seed(b)
    v = torch.randn(1, auto.dim, generator=gen).to(setup.like)
    u = torch.randn(1, rng.dim, generator=gen).to(setup.like)
    ref = auto.matvec(v)
    via_range = rng.from_range(rng.matvec(rng.to_range(v)))  # Π H̃ Πᵀ v = H v
    scale = float(ref.norm())
    return {
        "reduced_dim": auto.dim,
        "range_dim": rng.dim,
        "autograd_ms": 1e3 * _per_call(lambda: auto.matvec(v), n_calls),
        "closed_ms": 1e3 * _per_call(lambda: closed.matvec(v), n_calls),
        "range_ms": 1e3 * _per_call(lambda: rng.matvec(u), n_calls),
        "closed_rel_diff": float((closed.matvec(v) - ref).norm()) / scale,
        "range_rel_diff": float((via_range - ref).norm()) / scale,
    }


def range_chunk(model, data, b: int, K: int) -> int:
    """Batches per chunk that ``method="range"`` uses (as ``_batched.run_chunks``)."""
    setup = _batched.setup(model, "eval", data.X)
    dim = _batched.problem_dim(setup, "range", int(np.prod(data.X.shape[1:])), b)
    like = setup.like
    return _batched.auto_chunk(K, dim, like.element_size(), 200, like.device)


def _minibs(model, loss, data, idx, method: str, seed: int, **kw):
    """MiniBS of the batches ``idx`` by one public path (no batch sharpness)."""
    return minibatch_sharpness(
        model,
        loss,
        data,
        batch_size=idx.shape[1],
        n_batches=len(idx),
        rng=np.random.default_rng(seed),
        tol=TOL,
        batch_sharpness=False,
        batch_indices=idx,
        method=method,
        **kw,
    )


def starts_part(model, data, loss, b: int, K: int, S: int, seed: int) -> dict:
    """False-convergence rate of single range-path solves (one batch per chunk).

    K batches × S random starts, each solved alone with step floors 15 and 20. A
    certified stop is within tol of *some* eigenvalue, so an error above tol
    against a tight reference (tol 1e-5, floor 60) means the solve stopped on
    another eigenvalue (docs/spectral-core.md, "False convergence").
    """
    idx = sample_batches(len(data), b, K, np.random.default_rng(seed + 7 * b))
    setup = _batched.setup(model, "eval", data.X)
    like = setup.like
    out: dict = {"b": b, "K": K, "starts": S}
    ref, lam = [], {15: [], 20: []}
    rng = np.random.default_rng(seed)
    for rows in torch.as_tensor(idx):
        Xs = data.X[rows].unsqueeze(0).to(like)
        ys = data.y[rows].unsqueeze(0).to(like.device)
        T = stacked_targets(loss, ys, setup.n_out, like.dtype)
        op, red = range_operator(setup.module, setup.params, loss, Xs, T)
        tight = {"tol": 1e-5, "min_iter": 60, "max_iter": 300}
        ref.append(float(_batched.solve_stacked(op, red, rng, tight).lam[0]))
        for floor in lam:
            opts = {"tol": TOL, "min_iter": floor, "max_iter": 200}
            lam[floor] += [
                float(_batched.solve_stacked(op, red, rng, opts).lam[0])
                for _ in range(S)
            ]
    ref_rep = np.repeat(np.array(ref), S)
    for floor, vals in lam.items():
        err = np.abs(np.array(vals) - ref_rep) / ref_rep
        out[f"floor{floor}"] = {
            "wrong": int((err > TOL).sum()),
            "max_error": float(err.max()),
            "median_error": float(np.median(err)),
        }
    return out


def warm_up(model, loss, data) -> None:
    """First-call imports and allocations of every path, outside the timings."""
    idx = np.arange(8, dtype=np.int64).reshape(2, 4)
    for method in METHODS:
        _minibs(model, loss, data, idx, method, 0, max_iter=4)


def minibs_part(model, data, loss, cfg, b: int, seed: int, repeats: int) -> dict:
    """Loop vs reduced vs range on the same K batches (best of ``repeats``)."""
    K, kl = cfg["K"], cfg["loop_K"]
    idx = sample_batches(len(data), b, K, np.random.default_rng(seed + b))
    rows = {"loop": idx[:kl], "reduced": idx, "range": idx}
    times: dict[str, list[float]] = {m: [] for m in METHODS}
    out = {}
    for _ in range(repeats):  # interleaved, so load drifts hit every method alike
        for method, rng_seed in METHODS.items():
            out[method] = _minibs(model, loss, data, rows[method], method, rng_seed)
            times[method].append(out[method].seconds / len(rows[method]))
    best = {k: 1e3 * min(v) for k, v in times.items()}
    lam = {m: r.lambda_max for m, r in out.items()}
    return {
        **{f"{k}_ms_per_batch": v for k, v in best.items()},
        "range_vs_loop": best["loop"] / best["range"],
        "reduced_vs_loop": best["loop"] / best["reduced"],
        "range_vs_reduced": best["reduced"] / best["range"],
        "max_rel_diff_range_loop": float(
            np.max(np.abs(lam["range"][:kl] - lam["loop"]) / lam["loop"])
        ),
        "max_rel_diff_range_reduced": float(
            np.max(np.abs(lam["range"] - lam["reduced"]) / lam["reduced"])
        ),
        "hvps": {m: r.n_matvecs for m, r in out.items()},
        "range_chunk": range_chunk(model, data, b, K),
        "all_converged": bool(all(r.converged.all() for r in out.values())),
        "minibs_range": out["range"].minibs,
        "minibs_reduced": out["reduced"].minibs,
    }


def table(res: dict) -> str:
    lines = [f"conditions: {res['conditions']}"]
    if res.get("hvp"):
        lines.append("hvp: ms per product, K = 1 (span-reduced space)")
        lines.append(
            f"{'b':>5}{'dim':>9}{'range dim':>11}{'autograd':>10}{'closed':>9}"
            f"{'range':>9}{'diff':>10}"
        )
        for b, r in res["hvp"].items():
            lines.append(
                f"{b:>5}{r['reduced_dim']:>9}{r['range_dim']:>11}{r['autograd_ms']:>10.3f}"
                f"{r['closed_ms']:>9.3f}{r['range_ms']:>9.3f}{r['range_rel_diff']:>10.1e}"
            )
    if res.get("minibs"):
        c = res["config"]
        lines.append(f"minibs: K = {c['K']} (loop on {c['loop_K']}), ms per batch")
        lines.append(
            f"{'b':>5}{'loop':>9}{'reduced':>9}{'range':>9}{'range/loop':>12}"
            f"{'red/loop':>10}{'maxdiff':>10}{'HVPs l/r/g':>14}"
        )
        for b, r in res["minibs"].items():
            h = r["hvps"]
            lines.append(
                f"{b:>5}{r['loop_ms_per_batch']:>9.1f}{r['reduced_ms_per_batch']:>9.1f}"
                f"{r['range_ms_per_batch']:>9.1f}{r['range_vs_loop']:>12.2f}"
                f"{r['reduced_vs_loop']:>10.2f}{r['max_rel_diff_range_loop']:>10.1e}"
                f"{h['loop']:>6}/{h['reduced']}/{h['range']}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="N = 1024, K = 16, b <= 64")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0, help="data, init and batches")
    p.add_argument(
        "--parts",
        default="hvp,minibs",
        help="hvp, minibs and/or starts (false-convergence count, b = 4)",
    )
    p.add_argument("--bs", default=None, help="comma-separated batch sizes")
    p.add_argument("--repeats", type=int, default=1, help="timings: best of this many")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = dict(QUICK if args.quick else FULL)
    if args.bs:
        cfg["bs"] = tuple(int(b) for b in args.bs.split(","))
    t0 = time.perf_counter()
    model, data, loss = problem(cfg["n"], args.seed, args.device)
    res: dict = {
        "config": {
            **cfg,
            "bs": list(cfg["bs"]),
            "seed": args.seed,
            "tol": TOL,
            "repeats": args.repeats,
            "model": "mlp 3072-512-512-10",
            "loss": loss.name,
        },
        "conditions": {**conditions(args.threads), "device": args.device},
    }
    if "hvp" in args.parts:
        res["hvp"] = {}
        for b in cfg["bs"]:
            res["hvp"][b] = hvp_part(model, data, loss, b, 20)
            log(f"hvp b={b}: {res['hvp'][b]}")
    if "minibs" in args.parts:
        warm_up(model, loss, data)
        res["minibs"] = {}
        for b in cfg["bs"]:
            res["minibs"][b] = minibs_part(
                model, data, loss, cfg, b, args.seed, args.repeats
            )
            log(f"minibs b={b}: {res['minibs'][b]}")
    if "starts" in args.parts:
        res["starts"] = starts_part(model, data, loss, 4, 64, 8, args.seed)
        log(f"starts: {res['starts']}")
    res["conditions"]["load_avg_end"] = os.getloadavg()[0]
    res["conditions"]["total_seconds"] = time.perf_counter() - t0
    if args.json:
        log(table(res))
        print(json.dumps(res, indent=2))
    else:
        print(table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
