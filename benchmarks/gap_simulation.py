"""Benchmark of the random-matrix gap simulation (issue 3, item 4).

The whole gap curve (m = n = 4096, b = 1, 2, ..., 2048, K = 200 batches per b)
by eoss (``simulate_gap``: Gram identity, batched eigvalsh, block Lanczos, path
chosen by the cost model) versus the naive loop: for every batch form the
m x m matrix H_B = (1/b) G_B^T G_B and call ``numpy.linalg.eigvalsh``.

The naive loop costs seconds per batch at m = 4096, so it is timed on a few
batches at three batch sizes (smallest, middle, largest), its cost per batch is
fitted as t(b) = t0 + t1 b (eigvalsh of m x m plus the O(b m^2) product) and
extrapolated to the K batches of every b; the table says which numbers were
measured. The naive values on the timed batches are compared with eoss on the
same batches. Usage::

    python benchmarks/gap_simulation.py            # m = n = 4096 (~2-4 min)
    python benchmarks/gap_simulation.py --quick    # m = n = 512 (~10 s)
    python benchmarks/gap_simulation.py --json     # JSON on stdout, table on stderr
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from eoss.analysis.cli.simulate import blas_threads  # noqa: E402
from eoss.toy_models.random_matrix.batch_spectra import PreparedSample, batch_tops  # noqa: E402
from eoss.toy_models.random_matrix.gap_config import GapConfig  # noqa: E402
from eoss.toy_models.random_matrix.sampling import draw_batches  # noqa: E402
from eoss.toy_models.random_matrix.simulation import simulate_gap  # noqa: E402

FULL = {"m": 4096, "n": 4096, "K": 200, "bmax": 2048, "naive_per_b": 2}
QUICK = {"m": 512, "n": 512, "K": 50, "bmax": 256, "naive_per_b": 3}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def eoss_curve(family: str, p: dict, seed: int) -> dict:
    """Time the whole curve with simulate_gap."""
    bs = tuple(2**k for k in range(int(np.log2(p["bmax"])) + 1))
    cfg = GapConfig(
        family=family, dim=p["m"], n=p["n"], batch_sizes=bs, n_batches=p["K"]
    )
    t0 = time.perf_counter()
    sim = simulate_gap(cfg, np.random.default_rng(seed), progress=log)
    total = time.perf_counter() - t0
    rows = [
        {k: e.row()[k] for k in ("batch_size", "path", "seconds", "n_matvecs")}
        for e in sim.estimates
    ]
    return {"family": family, "total_seconds": total, "rows": rows, "sim": sim}


def naive_loop(sim, p: dict, seed: int) -> dict:
    """Per-batch m x m eigvalsh on a few batches; fit t(b) = t0 + t1 b."""
    G = sim.sample.factors[:, 0, :]  # rank-one families: g_i rows, (n, m)
    data = PreparedSample.build(sim.sample)
    rng = np.random.default_rng(seed)
    bs = [1, p["bmax"] // 32 or 1, p["bmax"]]
    times, worst = [], 0.0
    for b in bs:
        batches = draw_batches(p["n"], b, p["naive_per_b"], "without", rng)
        eoss = batch_tops(data, batches, path="auto", rng=rng, tol=1e-12).values
        for j, idx in enumerate(batches):
            t0 = time.perf_counter()
            GB = G[idx]
            lam = np.linalg.eigvalsh(GB.T @ GB / b)[-1]
            times.append((b, time.perf_counter() - t0))
            worst = max(worst, abs(lam - eoss[j]) / lam)
        log(f"naive b={b}: {np.mean([t for bb, t in times if bb == b]):.2f} s/batch")
    A = np.array([[1.0, b] for b, _ in times])
    coef, *_ = np.linalg.lstsq(A, np.array([t for _, t in times]), rcond=None)
    return {
        "timed": [{"batch_size": b, "seconds": t} for b, t in times],
        "fit_t0_t1": coef.tolist(),
        "max_rel_diff_vs_eoss": worst,
    }


def report(res: dict, naive: dict, K: int) -> dict:
    t0, t1 = naive["fit_t0_t1"]
    lines = [
        f"{'b':>6} {'path':>16} {'eoss s':>9} {'naive s (extrap.)':>18} {'ratio':>8}"
    ]
    naive_total = 0.0
    for r in res["rows"]:
        nv = K * max(t0 + t1 * r["batch_size"], 0.0)
        naive_total += nv
        ratio = nv / max(r["seconds"], 1e-9)
        lines.append(
            f"{r['batch_size']:>6} {r['path']:>16} {r['seconds']:>9.3f} "
            f"{nv:>18.1f} {ratio:>8.0f}"
        )
    lines.append(
        f"total: eoss {res['total_seconds']:.1f} s (measured, incl. dataset, Gram, "
        f"FullBS) vs naive {naive_total:.0f} s (extrapolated from "
        f"{len(naive['timed'])} timed batches): "
        f"{naive_total / res['total_seconds']:.0f}x"
    )
    log("\n".join(lines))
    return {"naive_total_seconds_extrapolated": naive_total}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="m = n = 512, K = 50")
    ap.add_argument("--json", action="store_true", help="JSON on stdout")
    ap.add_argument("--families", default="spiked,isotropic", help="comma list")
    ap.add_argument("--seed", type=int, default=0, help="random seed")
    ap.add_argument("--blas-threads", type=int, default=1, help="0: leave as is")
    ap.add_argument("--skip-naive", action="store_true", help="eoss timings only")
    args = ap.parse_args()
    p = QUICK if args.quick else FULL
    out = {
        "params": p,
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "blas_threads": args.blas_threads,
        "load_avg_1min_start": os.getloadavg()[0],
        "families": [],
    }
    with blas_threads(args.blas_threads):
        for fam in args.families.split(","):
            log(f"== {fam}: m = n = {p['m']}, K = {p['K']}, b = 1..{p['bmax']}")
            res = eoss_curve(fam, p, args.seed)
            entry = {k: v for k, v in res.items() if k != "sim"}
            if not args.skip_naive:
                naive = naive_loop(res["sim"], p, args.seed + 1)
                entry["naive"] = naive
                entry.update(report(res, naive, p["K"]))
            out["families"].append(entry)
    out["load_avg_1min_end"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
