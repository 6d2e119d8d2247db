"""``python -m analysis`` is the ``eoss`` command."""

from analysis.cli import main

raise SystemExit(main())
