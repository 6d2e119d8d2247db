"""``eoss sweep --status --out DIR``: where every run of a sweep stands.

Read from the run folders themselves (``<out>/train/<point>/status.json`` and the
last line of ``metrics.jsonl``), not from the sweep's own bookkeeping, so it is
right while SLURM jobs run, after a crash of the sweep, and for points started by
hand from ``--print-commands``. The job id comes from ``<out>/sweep.json`` when
the points were submitted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["print_status", "run_status", "sweep_status"]


def run_status(run_dir: Path) -> str:
    """A run folder's status (``missing`` before it exists).

    Args:
        run_dir: The run folder.

    Returns:
        ``finished``, ``diverged``, ``interrupted``, ``running``, ``failed``, ...
    """
    from eoss.analysis import records

    try:
        return str(records.read_json(run_dir / "status.json").get("status"))
    except (FileNotFoundError, ValueError):
        return "missing"


def _last_step(run_dir: Path) -> int | None:
    """The step of the last record of ``metrics.jsonl`` (None if none)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        fh.seek(max(0, fh.tell() - 65536))
        lines = fh.read().decode(errors="replace").strip().splitlines()
    for line in reversed(lines):
        try:
            step = json.loads(line).get("step")
        except (json.JSONDecodeError, AttributeError):
            continue
        if isinstance(step, int):
            return step
    return None


def sweep_status(out: Path) -> list[dict[str, Any]]:
    """One row per point of the sweep at ``out``.

    Args:
        out: The sweep's ``--out``.

    Returns:
        Rows with ``name``, ``status``, ``step``, ``steps`` and ``job_id``.

    Raises:
        FileNotFoundError: If ``out`` holds neither a sweep index nor runs.
    """
    from eoss.analysis import records

    index = out / "sweep.json"
    points = records.read_json(index)["points"] if index.is_file() else []
    names = [p["name"] for p in points]
    train = out / "train"
    if train.is_dir():
        names += sorted(d.name for d in train.iterdir() if d.name not in names)
    if not names:
        raise FileNotFoundError(f"{out} holds no sweep (no sweep.json, no train/)")
    jobs = {p["name"]: p.get("job_id") for p in points}
    rows = []
    for name in names:
        run_dir = train / name
        steps = None
        if (run_dir / "config.json").is_file():
            steps = records.read_json(run_dir / "config.json").get("steps")
        rows.append(
            {
                "name": name,
                "status": run_status(run_dir),
                "step": _last_step(run_dir),
                "steps": steps,
                "job_id": jobs.get(name),
            }
        )
    return rows


def print_status(out: Path) -> int:
    """Print :func:`sweep_status` as a table and a count per status.

    Args:
        out: The sweep's ``--out``.

    Returns:
        0 when every run finished or diverged, 1 otherwise.
    """
    rows = sweep_status(out)
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        step = "-" if r["step"] is None else str(r["step"])
        total = "?" if r["steps"] is None else str(r["steps"])
        job = f"  job {r['job_id']}" if r["job_id"] else ""
        print(f"{r['name']:<{width}}  {r['status']:<12} {step:>8}/{total}{job}")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    done = all(r["status"] in ("finished", "diverged") for r in rows)
    return 0 if done else 1
