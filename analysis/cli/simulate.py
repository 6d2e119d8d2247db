"""``eoss simulate gap``: the MiniBS − FullBS gap of random Hessian sums vs b.

Writes into ``--out``: ``results.csv`` (one row per batch size, rewritten
atomically after every batch size so a crash loses nothing done),
``results.json`` (``"kind": "simulate"``, config, rows, FullBS, theory overlays,
environment, status)
and ``gap_vs_batch.png``/``.pdf``. ``--json`` prints the rows on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eoss.toy_models.random_matrix.gap_config import GapConfig

NAME = "simulate"
HELP = "simulate random-matrix models (gap: MiniBS - FullBS vs batch size)"
DESCRIPTION = HELP


@dataclasses.dataclass(frozen=True)
class SimulateGapConfig(GapConfig):
    """The simulation's :class:`~eoss.toy_models.random_matrix.simulation.GapConfig`.

    Plus the seed and the output knobs.

    Attributes:
        seed: Seed of the simulation's generator (``numpy.random.default_rng``).
        window: Points per window of the local log-log slopes.
    """

    seed: int = 0
    window: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.window < 2:
            raise ValueError(f"window must be >= 2, got {self.window}")

    def gap_config(self) -> GapConfig:
        """The simulation part of the config.

        Returns:
            A plain :class:`GapConfig`.
        """
        names = {f.name for f in dataclasses.fields(GapConfig)}
        return GapConfig(**{k: v for k, v in self.__dict__.items() if k in names})


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    """Parse ``1,2,4,...,1024`` (``...`` or ``…`` continues the geometric progression).

    Args:
        text: Comma-separated positive integers; ``...`` between ``a, b`` and
            ``c`` multiplies by ``b / a`` (an integer > 1) until ``c``.

    Returns:
        The batch sizes.

    Raises:
        ValueError: On a malformed list or non-positive sizes.
    """
    parts = [p.strip() for p in text.replace("…", "...").split(",") if p.strip()]
    out: list[int] = []
    for i, tok in enumerate(parts):
        if tok == "...":
            if (
                len(out) < 2
                or i + 1 >= len(parts)
                or out[-1] % out[-2]
                or out[-1] <= out[-2]
            ):
                raise ValueError(
                    f"'...' needs 'a,b,...,c' with b/a an integer > 1: {text!r}"
                )
            ratio, stop = out[-1] // out[-2], _int(parts[i + 1], text)
            while out[-1] * ratio < stop:
                out.append(out[-1] * ratio)
            if out[-1] * ratio != stop:
                raise ValueError(
                    f"'...' in {text!r}: {stop} is not on the progression "
                    f"{out[-2]}, {out[-1]}, ... (x{ratio}); list the sizes"
                )
            continue
        out.append(_int(tok, text))
    if not out:
        raise ValueError("batch sizes: empty list")
    bad = [b for b in out if b < 1]
    if bad:
        raise ValueError(f"batch sizes must be positive, got {bad}")
    return tuple(out)


def _batch_sizes_arg(text: str) -> tuple[int, ...]:
    try:
        return parse_batch_sizes(text)
    except ValueError as exc:  # argparse shows an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(exc)) from None


def _int(tok: str, text: str) -> int:
    try:
        return int(tok)
    except ValueError:
        raise ValueError(
            f"batch sizes: {tok!r} is not an integer in {text!r}"
        ) from None


def _optional_float(text: str) -> float | None:
    return None if text.strip().lower() in ("none", "null", "equal") else float(text)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the models of ``eoss simulate`` (one subparser each, see :data:`MODELS`).

    Args:
        p: The ``simulate`` parser.
    """
    models = p.add_subparsers(dest="model", metavar="MODEL")
    models.required = True
    gap = models.add_parser(
        "gap",
        help="MiniBS - FullBS of synthetic Hessian sums vs batch size",
        description=(
            "Monte-Carlo MiniBS, FullBS and gap (naive and control-variate, with "
            "standard errors) of random per-sample Hessian families, with "
            "Bernstein / random-matrix overlays. See docs/random-matrix.md."
        ),
    )
    _add_gap_arguments(gap)


def handle(args: argparse.Namespace) -> int:
    """Run the chosen model of ``eoss simulate``.

    Args:
        args: Parsed arguments (``args.model`` names a key of :data:`MODELS`).

    Returns:
        The model handler's exit code.
    """
    return MODELS[args.model](args)


def _add_gap_arguments(p: argparse.ArgumentParser) -> None:
    from eoss.toy_models.random_matrix.families import FAMILY_NAMES
    from eoss.toy_models.random_matrix.path_costs import PATH_CHOICES

    def add(*flags: str, **kw: Any) -> None:
        # Unset config flags stay absent, so a JSON --config can fill them.
        if not flags[0].startswith("--") or kw.get("action") == "append":
            p.add_argument(*flags, **kw)
        else:
            p.add_argument(*flags, default=argparse.SUPPRESS, **kw)

    add("--family", help=f"per-sample matrix family: {', '.join(FAMILY_NAMES)}")
    add("--dim", type=int, help="matrix dimension m (default 200)")
    add("--n", type=int, help="dataset size n (online: Bernstein reference sample)")
    add("--sampling", help="without | with (replacement) | online (fresh samples)")
    add("--batch-sizes", type=_batch_sizes_arg, help="e.g. 1,2,4,...,1024")
    add("--batches", type=int, dest="n_batches", help="mini-batches K per size")
    add("--seed", type=int, help="random seed (same seed -> identical numbers)")
    add("--spike", type=float, help="spike l of spiked/block covariance (default 10)")
    add("--power", type=float, help="exponent s of powerlaw, Sigma_kk ~ k^-s")
    add("--rank", type=int, help="rows per sample (default 1; block: 10)")
    add("--residual", type=float, help="indefinite residual strength rho (default 0)")
    add("--weight-shape", type=_optional_float, help="orthogonal: Gamma shape or none")
    add("--path", help=f"solver path: {', '.join(PATH_CHOICES)} (default auto)")
    add("--tol", type=float, help="Lanczos relative residual tolerance (1e-8)")
    add("--window", type=int, help="points per local-slope window (default 3)")
    p.add_argument("--config", help="JSON file with config fields (flags override)")
    add("--set", action="append", default=[], metavar="KEY=VALUE", help="override")
    p.add_argument("--out", help="output folder (default reports/runs/simulate/...)")
    p.add_argument("--json", action="store_true", help="also print the rows as JSON")
    p.add_argument("--no-figure", action="store_true", help="skip the PNG/PDF figure")
    p.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="OpenBLAS threads while simulating (default 1: batched small "
        "eigen-solves run ~10x slower with 2 threads on a shared machine; "
        "0 leaves the setting alone)",
    )


_FLAG_FIELDS = [
    "family",
    "dim",
    "n",
    "sampling",
    "batch_sizes",
    "n_batches",
    "seed",
    "spike",
    "power",
    "rank",
    "residual",
    "weight_shape",
    "path",
    "tol",
    "window",
]


def build_config(args: argparse.Namespace) -> SimulateGapConfig:
    """Defaults <- ``--config`` file <- explicit flags <- ``--set``.

    Args:
        args: Parsed arguments.

    Returns:
        The validated config.
    """
    from eoss.analysis.cli.overrides import apply_overrides, load_json_config

    base: dict[str, Any] = load_json_config(args.config) if args.config else {}
    for name in _FLAG_FIELDS:
        if hasattr(args, name):
            value = getattr(args, name)
            base[name] = list(value) if isinstance(value, tuple) else value
    return apply_overrides(SimulateGapConfig, base, args.set)


def run_gap(args: argparse.Namespace) -> int:
    """Handler of ``eoss simulate gap``.

    Args:
        args: Parsed arguments.

    Returns:
        Exit code 0.
    """
    import numpy as np

    from eoss.analysis import records
    from eoss.analysis.cli.limits import check_memory
    from eoss.analysis.cli.overrides import to_dict

    cfg = build_config(args)
    config = to_dict(cfg)
    out = Path(args.out) if args.out else _default_out(config)
    records.check_output_dir(out)
    rows = (cfg.rank or 10) * (cfg.n + max(cfg.batch_sizes))  # sample factors
    check_memory(2.0 * 8 * cfg.dim * rows, f"dim={cfg.dim} with n={cfg.n}")
    out.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"kind": NAME, "config": config, "status": "running"}
    doc["rows"] = []
    doc["env"] = records.env_info(seeds={"simulate": cfg.seed})
    t0 = time.perf_counter()

    def on_row(est: Any) -> None:
        doc["rows"].append(est.row())
        records.write_csv(out / "results.csv", doc["rows"])
        records.write_json(out / "results.json", doc)

    def say(msg: str) -> None:
        print(f"[simulate gap] {msg}", file=sys.stderr, flush=True)

    with blas_threads(args.blas_threads):
        sim, theory = _simulate(cfg, np.random.default_rng(cfg.seed), on_row, say)
    doc.update(_summary(sim, theory, time.perf_counter() - t0))
    records.write_json(out / "results.json", doc)
    if not args.no_figure:
        _save_figure(doc, cfg, out)
    figure = "" if args.no_figure else ", gap_vs_batch.png/.pdf"
    say(f"wrote results.csv, results.json{figure} to {out}")
    if args.json:
        print(records.dumps(doc["rows"]))
    return 0


#: The models of ``eoss simulate``: subcommand name -> handler.
MODELS = {"gap": run_gap}


def _simulate(cfg, rng, on_row, say):
    import numpy as np

    from eoss.toy_models.random_matrix.simulation import simulate_gap
    from eoss.toy_models.theory.overlays import gap_theory

    sim = simulate_gap(cfg.gap_config(), rng, on_row=on_row, progress=say)
    say("theory overlays (Bernstein parameters, RMT prediction, local slopes)")
    theory = gap_theory(sim, np.random.default_rng([cfg.seed, 1]), window=cfg.window)
    return sim, theory


def _summary(sim: Any, theory: Any, seconds: float) -> dict[str, Any]:
    return {
        "status": "finished",
        "rows": sim.rows(),
        "fullbs": {
            "value": sim.fullbs,
            "residual": sim.fullbs_residual,
            "path": sim.fullbs_path,
        },
        "theory": theory.to_dict(),
        "seconds": seconds,
    }


def _save_figure(doc: dict[str, Any], cfg: SimulateGapConfig, out: Path) -> None:
    from eoss.analysis.report.plots.canvas import save_figure
    from eoss.analysis.report.plots.gap_simulation import gap_figure

    title = (
        f"{cfg.family}, m={cfg.dim}, n={cfg.n}, {cfg.sampling} replacement, "
        f"K={cfg.n_batches}, seed={cfg.seed}"
    ).replace("online replacement", "online")
    fig = gap_figure(doc["rows"], doc["theory"], title=title)
    save_figure(fig, out / "gap_vs_batch")


def _default_out(config: dict[str, Any]) -> Path:
    import datetime as dt

    from eoss.analysis.records.env import config_hash

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("reports/runs/simulate") / f"{stamp}_{config_hash(config)}"


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Temporarily set the thread count of every loaded OpenBLAS.

    numpy and scipy each bundle an OpenBLAS; both are found in the process's
    memory map and set through their ``*_set_num_threads*`` entry points. It is
    a no-op when ``n <= 0`` or when no OpenBLAS is found (other BLAS, other OS).

    Args:
        n: Threads to use inside the block.

    Yields:
        Nothing; the previous counts are restored on exit.
    """
    handles = _openblas_handles() if n > 0 else []
    previous = [(setter, getter()) for setter, getter in handles]
    for setter, _ in handles:
        setter(n)
    try:
        yield
    finally:
        for setter, count in previous:
            setter(count)


def _openblas_handles() -> list[tuple[Any, Any]]:
    """``(set_num_threads, get_num_threads)`` of each OpenBLAS in this process."""
    import numpy  # noqa: F401  (load both bundled OpenBLAS libraries first)
    import scipy.linalg  # noqa: F401

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    paths = sorted(
        {
            ln.split()[-1]
            for ln in maps.splitlines()
            if "openblas" in ln.lower() and ".so" in ln
        }
    )
    found = []
    for path in paths:
        lib = ctypes.CDLL(path)
        for stem in ("scipy_openblas", "openblas"):
            for suffix in ("64_", "_64_", ""):
                setter = getattr(lib, f"{stem}_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{stem}_get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
                    found.append((setter, getter))
                    break
            else:
                continue
            break
    return found
