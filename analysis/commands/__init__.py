"""Subcommands of ``eoss``; each module registers one (see :mod:`analysis.cli`)."""
