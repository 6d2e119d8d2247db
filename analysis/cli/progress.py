"""Console feedback for long runs: progress bars with ETA, and stop requests.

:class:`ProgressBar` shows step, ETA, the latest loss and MiniBS·η/2 (the EoSS
indicator: 1 means MiniBS sits exactly at 2/η) on stderr; :class:`StageProgress`
is ``eoss reproduce``'s one line per stage, fed by a meter that reads the stage's
own records while it runs (:class:`StepMeter`, :class:`RowMeter`);
:class:`ByteProgress` shows a download; :class:`StopRequest` turns SIGINT/SIGTERM
into a polite "stop after this step" flag.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

#: A meter returns (work done, total work) of a running stage, or None.
Meter = Callable[[], "tuple[float, float] | None"]


class ProgressBar:
    """A one-line progress bar with ETA, loss and MiniBS·η/2 on stderr.

    On a terminal the line is redrawn at most twice a second; otherwise a line is
    printed at every 10% of the run. ``quiet`` prints nothing.

    Args:
        total: Total steps.
        start: First step of this session (for the rate).
        quiet: Print nothing.
        stream: Output stream (default stderr).
    """

    def __init__(
        self, total: int, start: int, *, quiet: bool, stream: TextIO | None = None
    ) -> None:
        self.total, self.start, self.quiet = total, start, quiet
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0, self.shown, self.decile = time.monotonic(), 0.0, -1

    def text(self, step: int, info: dict[str, Any]) -> str:
        """The bar's text at ``step``.

        Args:
            step: Steps taken.
            info: Latest ``loss``, ``lr``, ``minibs`` (any may be missing).

        Returns:
            The line.
        """
        elapsed = time.monotonic() - self.t0
        done = max(step - self.start, 0)
        # The first steps carry start-up and step-0 measurements: wait for 1%.
        enough = done >= max(1, (self.total - self.start) // 100)
        eta = elapsed / done * (self.total - step) if enough else float("nan")
        frac = step / self.total if self.total else 1.0
        bar = "#" * int(20 * frac) + "." * (20 - int(20 * frac))
        parts = [f"[{bar}] {step}/{self.total} {100 * frac:3.0f}%"]
        parts.append(f"{_clock(elapsed)} ETA {_clock(eta)}")
        if "loss" in info:
            parts.append(f"loss {info['loss']:.4g}")
        if "minibs" in info and "lr" in info:
            parts.append(f"MiniBS·η/2 {info['minibs'] * info['lr'] / 2:.3f}")
        return "  ".join(parts)

    def __call__(self, step: int, total: int, info: dict[str, Any]) -> None:
        """Show progress (throttled).

        Args:
            step: Steps taken.
            total: Total steps.
            info: Latest headline values.
        """
        if self.quiet:
            return
        now = time.monotonic()
        decile = int(10 * step / max(total, 1))
        if self.tty and (now - self.shown >= 0.5 or step == total):
            self.stream.write("\r" + self.text(step, info))
            self.shown = now
        elif not self.tty and decile > self.decile:
            self.stream.write(self.text(step, info) + "\n")
            self.decile = decile
        self.stream.flush()

    def close(self) -> None:
        """End the line on a terminal."""
        if not self.quiet and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _bar(frac: float) -> str:
    frac = min(max(frac, 0.0), 1.0)
    return "#" * int(20 * frac) + "." * (20 - int(20 * frac))


def _last_step(metrics: Path) -> int:
    """The ``step`` of the last complete record of a ``metrics.jsonl`` (0: none)."""
    try:
        with open(metrics, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(fh.tell() - 8192, 0))
            lines = fh.read().splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            step = json.loads(line).get("step")
        except (ValueError, AttributeError):
            continue
        if isinstance(step, int):
            return step
    return 0


@dataclass(frozen=True)
class StepMeter:
    """Training progress: steps taken over every run of a stage.

    Attributes:
        runs: Run folders (a sweep's are found by ``pattern`` under ``folder``).
        steps: Steps per run.
        count: Number of runs the stage trains.
        folder: Folder holding the runs (with ``pattern``).
        pattern: Glob of run folders under ``folder`` (None: ``runs`` given).
    """

    runs: tuple[Path, ...]
    steps: int
    count: int = 1
    folder: Path | None = None
    pattern: str | None = None

    def __call__(self) -> tuple[float, float]:
        """Steps done and total.

        Returns:
            (sum of each run's latest step, runs × steps).
        """
        runs = self.runs
        if self.folder is not None and self.pattern is not None:
            runs = tuple(sorted(self.folder.glob(self.pattern)))
        done = sum(min(_last_step(r / "metrics.jsonl"), self.steps) for r in runs)
        return float(done), float(self.count * self.steps)


@dataclass(frozen=True)
class RowMeter:
    """Progress of a measurement writing one row per item (``eoss static-gap``).

    Attributes:
        folder: Parent of the run folder (found by ``pattern``).
        pattern: Glob of the run folder under ``folder``.
        table: The row table counted.
        weights: Cost of each item, in order (e.g. the batch sizes).
    """

    folder: Path
    pattern: str
    table: str
    weights: tuple[float, ...]

    def __call__(self) -> tuple[float, float]:
        """Weighted rows done and total.

        Returns:
            (weight of the rows written, weight of all items).
        """
        rows = 0
        for run in self.folder.glob(self.pattern):
            try:
                text = (run / "metrics.jsonl").read_text()
            except OSError:
                continue
            rows = max(rows, text.count(f'"table": "{self.table}"'))
        return float(sum(self.weights[:rows])), float(sum(self.weights))


class StageProgress:
    """One live line for a stage: bar, percent, elapsed and ETA (or elapsed only).

    A background thread polls ``meter`` every ``interval`` seconds. On a terminal
    the line is redrawn in place; otherwise a line is printed at each 10% (and at
    least every ``heartbeat`` seconds), so a log shows the stage is alive. Use as a
    context manager around the stage.

    Args:
        label: Stage label (``[4/7] sweep``).
        meter: Work done / total (None: show elapsed time only).
        stream: Output stream (default stderr).
        interval: Seconds between polls.
        heartbeat: Longest silence on a non-terminal, in seconds.
    """

    def __init__(
        self,
        label: str,
        meter: Meter | None,
        *,
        stream: TextIO | None = None,
        interval: float = 1.0,
        heartbeat: float = 60.0,
    ) -> None:
        self.label, self.meter = label, meter
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval, self.heartbeat = interval, heartbeat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = self.printed = time.monotonic()
        self.first: float | None = None
        self.decile = -1

    def text(self, reading: tuple[float, float] | None = None) -> str:
        """The line now.

        Args:
            reading: (done, total) already read (default: read the meter).

        Returns:
            ``label [bar] pct  elapsed ETA eta`` (or ``label  elapsed``).
        """
        elapsed = time.monotonic() - self.t0
        reading = self._read() if reading is None else reading
        if reading is None:
            return f"{self.label}  {_clock(elapsed)} elapsed"
        done, total = reading
        frac = done / total if total > 0 else 1.0
        if self.first is None:
            self.first = done
        gained = done - self.first
        eta = elapsed / gained * (total - done) if gained > 0 else float("nan")
        return (
            f"{self.label} [{_bar(frac)}] {100 * frac:3.0f}%  "
            f"{_clock(elapsed)} ETA {_clock(eta)}"
        )

    def _read(self) -> tuple[float, float] | None:
        if self.meter is None:
            return None
        try:
            return self.meter()
        except (OSError, ValueError):
            return None

    def _show(self, force: bool = False) -> None:
        reading = self._read()
        line = self.text(reading)
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + line)
        else:
            decile = -1
            if reading is not None and reading[1] > 0:
                decile = int(10 * reading[0] / reading[1])
            quiet_for = now - self.printed
            if not (force or decile > self.decile or quiet_for >= self.heartbeat):
                return
            self.decile = max(decile, self.decile)
            self.stream.write(line + "\n")
        self.printed = now
        self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._show()

    def __enter__(self) -> StageProgress:
        self._show(force=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.tty:  # end the redrawn line; the caller prints the result
            self.stream.write("\r" + self.text() + "\n")
            self.stream.flush()


class ByteProgress:
    """A download's progress bar (MB done of total, rate) on stderr.

    Nothing is shown before the first bytes arrive, so a download that cannot
    start leaves only its caller's error line.

    Args:
        label: What is downloaded (the header line).
        stream: Output stream (default stderr).
    """

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0, self.shown, self.decile, self.any = time.monotonic(), 0.0, -1, False

    def __call__(self, done: int, total: int | None) -> None:
        """Show progress (throttled).

        Args:
            done: Bytes received.
            total: Bytes expected (None: unknown).
        """
        now = time.monotonic()
        if not self.any:
            self.stream.write(self.label + "\n")
        frac = done / total if total else 0.0
        rate = done / max(now - self.t0, 1e-9) / 1e6
        size = f"{done / 1e6:.0f}" + (f"/{total / 1e6:.0f}" if total else "")
        line = f"[{_bar(frac)}] {size} MB  {rate:.1f} MB/s"
        decile = int(10 * frac)
        if self.tty and now - self.shown >= 0.5:
            self.stream.write("\r" + line)
        elif not self.tty and decile > self.decile:
            self.stream.write(line + "\n")
            self.decile = decile
        else:
            return
        self.shown, self.any = now, True
        self.stream.flush()

    def close(self) -> None:
        """End the line on a terminal."""
        if self.tty and self.any:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "--:--"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class StopRequest:
    """SIGINT/SIGTERM → stop after the current step (a second SIGINT aborts).

    Use as a context manager; calling the object tells whether a stop was
    requested. Handlers are installed only in the main thread.
    """

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print(
            "\neoss: stopping after this step (checkpoint first); "
            "Ctrl-C again to abort",
            file=sys.stderr,
        )

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def __call__(self) -> bool:
        """Whether a stop was requested.

        Returns:
            The flag.
        """
        return self.requested
