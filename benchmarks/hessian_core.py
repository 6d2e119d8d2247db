"""Benchmark of the Hessian spectral core (issue 4, item 8).

(a) FullBS to 1e-3 on the MLP 3072-512-512-10 over N random CIFAR-shaped inputs
    (standard normal pixels, uniform labels: the benchmark needs the shapes, not
    the pictures): eoss Lanczos vs power iteration (PyHessian's rule, and run on
    to find where its true error first drops below 1e-3) vs scipy ``eigsh`` —
    HVPs, seconds, error against a tight Lanczos reference.
(b) MiniBS over K batches for several b, to 1e-3: eoss (span-reduced, batched)
    vs a sequential per-batch Lanczos loop on the unreduced Hessian (the official
    code's approach), on the same batches.
(c) Gauss–Newton/NTK Gram route vs Hessian Lanczos per batch.

Ratios are measured in the same run. Usage::

    python benchmarks/hessian_core.py            # full (~15-25 min on 2 cores)
    python benchmarks/hessian_core.py --quick    # < 3 min
    python benchmarks/hessian_core.py --json     # JSON on stdout, table on stderr
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse.linalg  # noqa: E402
import torch  # noqa: E402

from eoss.empirical.data.arrays import ArrayDataset  # noqa: E402
from eoss.empirical.estimators.full_batch import full_sharpness
from eoss.empirical.estimators.minibatch import minibatch_sharpness
from eoss.empirical.estimators.ntk import ntk_lambda_max  # noqa: E402
from eoss.empirical.losses import Loss  # noqa: E402
from eoss.empirical.models import ModelSpec, build_model  # noqa: E402
from eoss.empirical.operators.batched import sample_batches
from eoss.empirical.operators.hessian import HessianOperator  # noqa: E402
from eoss.empirical.solvers.lanczos import lanczos  # noqa: E402
from eoss.empirical.solvers.power_iteration import power_iteration  # noqa: E402

TARGET = 1e-3
FULL = {"n": 8192, "power_max": 1000, "K": 64, "bs": (4, 16, 64, 256), "loop_K": 64}
QUICK = {"n": 1024, "power_max": 300, "K": 16, "bs": (4, 16, 64), "loop_K": 8}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def problem(n: int, seed: int, device: str = "cpu"):
    gen = torch.Generator().manual_seed(seed)  # CPU draws: same numbers on any device
    X = torch.randn(n, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    data = ArrayDataset(X, y, "random-cifar-shaped", 10, {"source": "randn"})
    model = build_model(ModelSpec("mlp", width=512, depth=2), (3, 32, 32), 10, gen)
    return model.to(device), data.to(device), Loss("mse")


def first_below(errors: np.ndarray, target: float) -> int | None:
    hit = np.nonzero(errors < target)[0]
    return int(hit[0]) + 1 if len(hit) else None


def pyhessian_stop(history: np.ndarray, tol: float = 1e-3) -> int:
    for t in range(1, len(history)):
        prev = history[t - 1]
        if abs(prev - history[t]) / (abs(prev) + 1e-6) < tol:
            return t + 1
    return len(history)


def full_batch(model, data, loss, cfg, seed: int) -> dict:
    H = HessianOperator(model, loss, data.X, data.y, chunk_size=1024)
    rng = np.random.default_rng(seed)
    v0 = torch.from_numpy(rng.standard_normal(H.dim)).float().to(H.device)
    H.matvec_torch(v0)  # builds and keeps the per-chunk graphs (one-off)
    log("(a) reference: Lanczos to tol 1e-6 ...")
    ref = lanczos(H.matvec_torch, v0, tol=1e-6, min_iter=20, max_iter=200, k=2)
    lam = float(ref.eigenvalues[0])
    out = {
        "reference": lam,
        "reference_residual_rel": float(ref.residuals[0]) / lam,
        "lambda2_over_lambda1": float(ref.eigenvalues[1]) / lam,
        "lanczos": _lanczos_section(H, v0, lam),
        "full_sharpness": _api_section(model, data, loss, lam, seed),
        "eigsh": _eigsh_section(H, v0, lam),
    }
    out.update(_power_section(H, v0, lam, cfg["power_max"]))
    return out


def _lanczos_section(H, v0, lam: float) -> dict:
    hist: list[float] = []
    t = time.perf_counter()
    res = lanczos(
        H.matvec_torch,
        v0,
        tol=TARGET,
        min_iter=10,
        callback=lambda m, th: hist.append(float(th[0, 0])),
    )
    out = {
        "hvps": res.n_matvecs,
        "seconds": time.perf_counter() - t,
        "error": abs(float(res.eigenvalues[0]) - lam) / lam,
        "first_below_target": first_below(np.abs(np.array(hist) - lam) / lam, TARGET),
        "converged": bool(res.converged[0]),
    }
    log(f"(a) eoss Lanczos: {out}")
    return out


def _api_section(model, data, loss, lam: float, seed: int) -> dict:
    """eoss's public call with its default start (random + gradient)."""
    fs = full_sharpness(model, loss, data, rng=np.random.default_rng(seed), tol=TARGET)
    out = {
        "hvps": fs.n_matvecs,
        "seconds": fs.seconds,
        "error": abs(fs.fullbs - lam) / lam,
        "converged": fs.converged,
    }
    log(f"(a) eoss full_sharpness: {out}")
    return out


def _eigsh_section(H, v0, lam: float) -> dict:
    H.n_matvecs = 0
    t = time.perf_counter()
    vals = scipy.sparse.linalg.eigsh(
        H,
        k=1,
        which="LA",
        tol=TARGET,
        v0=v0.double().cpu().numpy(),
        return_eigenvectors=False,
    )
    out = {
        "hvps": H.n_matvecs,
        "seconds": time.perf_counter() - t,
        "error": abs(float(vals[0]) - lam) / lam,
    }
    log(f"(a) scipy eigsh: {out}")
    return out


def _power_section(H, v0, lam: float, max_hvps: int) -> dict:
    log(f"(a) power iteration, {max_hvps} HVPs ...")
    t = time.perf_counter()
    pw = power_iteration(H.matvec_torch, v0, rule="none", max_iter=max_hvps)
    secs = (time.perf_counter() - t) / pw.n_matvecs
    err = np.abs(pw.history - lam) / lam
    stop = pyhessian_stop(pw.history)
    first = first_below(err, TARGET)
    out = {
        "power_pyhessian_rule": {
            "hvps": stop,
            "seconds": stop * secs,
            "error": float(err[stop - 1]),
        },
        "power_to_target": {
            "hvps": first,
            "seconds": None if first is None else first * secs,
            "error_at_max": float(err[-1]),
            "max_hvps": max_hvps,
            "stays_below": None
            if first is None
            else bool((err[first - 1 :] < TARGET).all()),
        },
    }
    log(f"(a) power: {out}")
    return out


def _warm_up(model, data, loss) -> None:
    """First-call imports and allocations of every path, outside the timings."""
    for m in ("auto", "loop"):
        minibatch_sharpness(
            model,
            loss,
            data,
            batch_size=4,
            n_batches=2,
            rng=np.random.default_rng(0),
            method=m,
            max_iter=4,
        )
    ntk_lambda_max(
        model,
        loss,
        data,
        batch_size=4,
        n_batches=2,
        rng=np.random.default_rng(0),
        max_iter=4,
    )


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def one_batch_size(model, data, loss, cfg, b: int, seed: int) -> dict:
    K, k = cfg["K"], cfg["loop_K"]
    idx = sample_batches(len(data), b, K, np.random.default_rng(seed + b))
    kw = dict(tol=TARGET, batch_sharpness=False, batch_size=b)
    fast, t_fast = _timed(
        lambda: minibatch_sharpness(
            model,
            loss,
            data,
            rng=np.random.default_rng(1),
            batch_indices=idx,
            n_batches=K,
            **kw,
        )
    )
    slow, t_loop = _timed(
        lambda: minibatch_sharpness(
            model,
            loss,
            data,
            rng=np.random.default_rng(2),
            batch_indices=idx[:k],
            n_batches=k,
            method="loop",
            **kw,
        )
    )
    ntk, t_ntk = _timed(
        lambda: ntk_lambda_max(
            model,
            loss,
            data,
            batch_size=b,
            n_batches=K,
            rng=np.random.default_rng(3),
            batch_indices=idx,
            tol=TARGET,
        )
    )
    return _row(fast, slow, ntk, t_fast / K, t_loop / k, t_ntk / K)


def _row(fast, slow, ntk, t_fast: float, t_loop: float, t_ntk: float) -> dict:
    k = len(slow.lambda_max)
    diff = np.abs(fast.lambda_max[:k] - slow.lambda_max) / slow.lambda_max
    gn = (fast.lambda_max - ntk.lambda_max) / fast.lambda_max
    return {
        "eoss_ms_per_batch": 1e3 * t_fast,
        "loop_ms_per_batch": 1e3 * t_loop,
        "speedup": t_loop / t_fast,
        "method": fast.method,
        "max_rel_diff": float(diff.max()),
        "eoss_hvps": fast.n_matvecs,
        "loop_hvps": slow.n_matvecs,
        "minibs": fast.minibs,
        "all_converged": bool(fast.converged.all() and slow.converged.all()),
        "ntk_ms_per_batch": 1e3 * t_ntk,
        "ntk_minibs": ntk.ntk_lambda_max,
        "gn_below_hessian_mean": float(gn.mean()),
        "gn_below_hessian_max": float(gn.max()),
        "ntk_speedup_vs_eoss": t_fast / t_ntk,
    }


def per_batch(model, data, loss, cfg, seed: int) -> dict:
    _warm_up(model, data, loss)
    rows = {}
    for b in cfg["bs"]:
        rows[b] = one_batch_size(model, data, loss, cfg, b, seed)
        log(f"(b,c) b={b}: {rows[b]}")
    return rows


def table(res: dict) -> str:
    a = res.get("full")
    lines = [f"conditions: {res['conditions']}"]
    if a:
        lines += [
            f"(a) FullBS, N={res['config']['n']}: reference λ = {a['reference']:.6g} "
            f"(rel. residual {a['reference_residual_rel']:.1e}), λ2/λ1 = "
            f"{a['lambda2_over_lambda1']:.4f}",
            f"{'method':<34}{'HVPs':>6}{'seconds':>10}{'rel. error':>12}",
        ]
        for name, key in [
            ("eoss Lanczos (certified stop)", "lanczos"),
            ("eoss full_sharpness (own start)", "full_sharpness"),
            ("scipy eigsh (LA, tol 1e-3)", "eigsh"),
            ("power, PyHessian rule", "power_pyhessian_rule"),
        ]:
            r = a[key]
            lines.append(
                f"{name:<34}{r['hvps']:>6}{r['seconds']:>10.2f}{r['error']:>12.2e}"
            )
        p = a["power_to_target"]
        lines.append(
            f"{'power, first below 1e-3 (oracle)':<34}{p['hvps'] or '>max':>6}"
            f"{(p['seconds'] or float('nan')):>10.2f}{TARGET:>12.0e}"
        )
        lines.append(
            f"eoss Lanczos first below 1e-3 at HVP {a['lanczos']['first_below_target']}"
        )
    if res.get("minibs"):
        lines.append(
            f"(b, c) K={res['config']['K']} batches (loop on "
            f"{res['config']['loop_K']}); ms per batch"
        )
        lines.append(
            f"{'b':>5}{'eoss':>9}{'loop':>9}{'speedup':>9}{'maxdiff':>10}"
            f"{'ntk':>9}{'GN below H':>12}"
        )
        for b, r in res["minibs"].items():
            lines.append(
                f"{b:>5}{r['eoss_ms_per_batch']:>9.1f}{r['loop_ms_per_batch']:>9.1f}"
                f"{r['speedup']:>9.2f}{r['max_rel_diff']:>10.1e}"
                f"{r['ntk_ms_per_batch']:>9.1f}"
                f"{100 * r['gn_below_hessian_mean']:>11.2f}%"
            )
    return "\n".join(lines)


def summary(res: dict) -> None:
    """Add the headline keys required by the issue."""
    if "full" in res:
        res["full_lanczos_hvps"] = res["full"]["lanczos"]["hvps"]
        res["full_power_hvps"] = res["full"]["power_to_target"]["hvps"]
    if "minibs" in res:
        res["minibs_speedup"] = {b: r["speedup"] for b, r in res["minibs"].items()}


def conditions(threads: int) -> dict:
    return {
        "threads": threads,
        "cpus": os.cpu_count(),
        "load_avg_start": os.getloadavg()[0],
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, < 3 minutes")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0, help="data, init and start vectors")
    p.add_argument("--parts", default="a,b", help="a (full batch), b (MiniBS and NTK)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    model, data, loss = problem(cfg["n"], args.seed, args.device)
    res: dict = {
        "config": {
            **cfg,
            "bs": list(cfg["bs"]),
            "seed": args.seed,
            "quick": args.quick,
            "model": "mlp 3072-512-512-10",
            "loss": loss.name,
            "data": "random N(0,1) CIFAR-shaped inputs, uniform labels",
        },
        "conditions": {**conditions(args.threads), "device": args.device},
    }
    if "a" in args.parts:
        res["full"] = full_batch(model, data, loss, cfg, args.seed)
    if "b" in args.parts:
        res["minibs"] = per_batch(model, data, loss, cfg, args.seed)
    res["conditions"]["load_avg_end"] = os.getloadavg()[0]
    res["conditions"]["total_seconds"] = time.perf_counter() - t0
    summary(res)
    if args.json:
        log(table(res))
        print(json.dumps(res, indent=2))
    else:
        print(table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
