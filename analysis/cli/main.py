"""The ``eoss`` command line: one front door for the three pillars.

Subcommands live in :mod:`eoss.analysis.cli`, one module each, listed in
:data:`COMMANDS` in help order. A command module defines:

* ``NAME``: the subcommand (``eoss NAME``);
* ``HELP``: its one-line summary in ``eoss --help``;
* ``DESCRIPTION`` (optional): the text under ``usage:`` in ``eoss NAME --help``
  (default: the first line of the module docstring, else ``HELP``);
* ``add_arguments(parser: argparse.ArgumentParser) -> None``: adds its arguments
  (and nested subcommands, if any) to the parser that :func:`build_parser` made;
* ``handle(args: argparse.Namespace) -> int``: runs it and returns the exit code.

To add a command, write such a module and add its name to :data:`COMMANDS`.
Heavy imports (torch, statsmodels) happen inside handlers so that ``eoss --help``
stays fast.

Bad input never produces a traceback: argparse errors, :class:`ValueError`,
:class:`FileNotFoundError` (and the other "this path is wrong" errors:
:class:`FileExistsError`, :class:`IsADirectoryError`, :class:`NotADirectoryError`,
:class:`PermissionError`), a run folder locked by another process
(:class:`~eoss.analysis.records.lock.RunLockedError`) and :class:`UsageError`
become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from eoss import __version__
from eoss.analysis.records.lock import RunLockedError

#: The subcommand modules of ``eoss`` (in :mod:`eoss.analysis.cli`), in help order.
COMMANDS = (
    "derive",
    "simulate",
    "sharpness",
    "train",
    "sweep",
    "static_gap",
    "fit",
    "report",
    "export",
    "reproduce",
)


class UsageError(Exception):
    """Bad user input detected by a command (exit code 2)."""


class _ParseError(UsageError):
    """An argparse error; its message already names the (sub)command."""


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that appends ``(default: X)`` to options with a real default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and default is not None
            and default is not False
            and default is not argparse.SUPPRESS
            and "default" not in text
        ):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """ArgumentParser that raises instead of printing usage and exiting."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> None:  # type: ignore[override]
        """Raise :class:`UsageError` with argparse's message.

        Args:
            message: argparse's description of the problem.

        Raises:
            _ParseError: Always.
        """
        raise _ParseError(f"{self.prog}: error: {message}")


def _add_command(sub: argparse._SubParsersAction, mod: ModuleType) -> None:
    """Add the subcommand of one command module (see the module docstring).

    Args:
        sub: The ``eoss`` subparsers.
        mod: The command module.
    """
    summary = (mod.__doc__ or mod.HELP).split("\n")[0]
    parser = sub.add_parser(
        mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", summary)
    )
    mod.add_arguments(parser)
    parser.set_defaults(handler=mod.handle)


def build_parser() -> argparse.ArgumentParser:
    """The ``eoss`` parser with every subcommand of :data:`COMMANDS`, in order.

    Returns:
        The top-level parser.
    """
    parser = _Parser(
        prog="eoss",
        description=(
            "Edge of Stochastic Stability toolkit: "
            "derive, simulate, measure, fit, report."
        ),
    )
    parser.add_argument("--version", action="version", version=f"eoss {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        _add_command(sub, importlib.import_module(f"eoss.analysis.cli.{name}"))
    return parser


_BAD_INPUT = (
    UsageError,
    ValueError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    RunLockedError,
)


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``eoss`` in-process.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 on success, 2 on bad input, 1 on a failed run.
    """
    # OpenMP spin-waiting makes small ops 10-60x slower on shared CPUs;
    # set the policy before torch is first imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    argv = list(sys.argv[1:] if argv is None else argv)
    from eoss.analysis.cli.children import die_with_parent

    die_with_parent()
    try:
        args = build_parser().parse_args(argv)
        return int(args.handler(args) or 0)
    except SystemExit as exc:  # --help and --version exit 0 through argparse
        return int(exc.code or 0)
    except _ParseError as exc:
        print(_one_line(exc), file=sys.stderr)
        return 2
    except _BAD_INPUT as exc:
        prefix = f"eoss {argv[0]}" if argv else "eoss"
        print(f"{prefix}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except MemoryError as exc:  # a size that passed the up-front checks
        prefix = f"eoss {argv[0]}" if argv else "eoss"
        print(f"{prefix}: error: out of memory ({_one_line(exc)})", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early
        _silence_stdout()
        return 0
    except KeyboardInterrupt:
        print("eoss: interrupted", file=sys.stderr)
        return 130


def entry() -> int:
    """The ``eoss`` console script and ``python -m eoss``: :func:`main`, then exit.

    A ``torchrun`` rank leaves through :func:`os._exit` once its output is flushed:
    its records are written and its process group destroyed by then, but gloo's
    worker threads can still hold work objects whose destruction during interpreter
    finalisation aborts the process ("terminate called without an active
    exception", exit -6, seen in CI on 2-rank runs that had finished correctly).

    Returns:
        The exit code (one process; a rank does not return).
    """
    code = main()
    if "torch.distributed" not in sys.modules:  # no rank: and no torch import here
        return code
    from eoss.empirical.distributed import launched_by_torchrun

    if launched_by_torchrun():
        import logging

        logging.shutdown()
        import contextlib

        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe
                stream.flush()
        os._exit(code)
    return code


def _silence_stdout() -> None:
    """Point stdout at devnull so the interpreter's final flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
