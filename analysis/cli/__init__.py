"""The ``eoss`` command line: one module per subcommand, run plans, parsing."""
