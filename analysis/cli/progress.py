"""Console feedback for long runs: a progress bar with ETA, and stop requests.

:class:`ProgressBar` shows step, ETA, the latest loss and MiniBS·η/2 (the EoSS
indicator: 1 means MiniBS sits exactly at 2/η) on stderr; :class:`StopRequest`
turns SIGINT/SIGTERM into a polite "stop after this step" flag.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any, TextIO


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
