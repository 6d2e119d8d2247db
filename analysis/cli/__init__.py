"""The ``eoss`` command line: one module per subcommand, plus run plans and argument parsing."""
