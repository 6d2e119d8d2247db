"""Child processes that die with their parent (``eoss sweep``'s trainings).

A parent starts each child with :func:`child_env`, which names the parent's pid
in ``EOSS_PARENT_PID``. The child's ``eoss`` entry point calls
:func:`die_with_parent` first: on Linux it asks the kernel
(``prctl(PR_SET_PDEATHSIG, SIGTERM)``) to send it SIGTERM when the parent dies,
even by ``kill -9``, and exits at once if the parent is already gone. SIGTERM
stops a training at its next step boundary with a checkpoint (status
``interrupted``), so a re-run of the sweep resumes it. Elsewhere the parent's
own signal handling (:func:`terminate_all`) is the only guard.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterable

ENV_VAR = "EOSS_PARENT_PID"
_PR_SET_PDEATHSIG = 1

log = logging.getLogger(__name__)


def child_env(env: dict[str, str]) -> dict[str, str]:
    """A child's environment: ``env`` plus this process's pid as its parent.

    Args:
        env: The base environment.

    Returns:
        A copy with ``EOSS_PARENT_PID`` set.
    """
    return {**env, ENV_VAR: str(os.getpid())}


def die_with_parent() -> bool:
    """Arrange to receive SIGTERM when the parent named in the environment dies.

    Does nothing unless ``EOSS_PARENT_PID`` is set. Exits with code 143 when the
    parent has already died (the kernel would not signal a re-parented child).

    Returns:
        Whether the kernel will signal this process (Linux only).
    """
    want = os.environ.get(ENV_VAR)
    if not want or not want.isdigit():
        return False
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != int(want):  # the parent died before prctl took effect
        os._exit(143)
    return armed


def terminate_all(procs: Iterable[subprocess.Popen], timeout: float = 30.0) -> None:
    """SIGTERM every live child, wait for them, SIGKILL the ones that hang.

    Args:
        procs: The child processes.
        timeout: Seconds each child gets to checkpoint and exit.
    """
    live = [p for p in procs if p.poll() is None]
    for p in live:
        p.terminate()
    for p in live:
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("child pid %d did not stop; killing it", p.pid)
            p.kill()
            p.wait()
