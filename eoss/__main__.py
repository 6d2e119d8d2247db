"""``python -m eoss`` is the ``eoss`` command."""

from eoss.analysis.cli.main import entry

raise SystemExit(entry())
