"""Subcommands of ``semimix`` that live in their own modules: each has ``add_parser(sub)``, which
registers it on the CLI's subparsers, and ``run(args) -> int``, which does the work and returns the
exit status (raising SemimixError for bad input, which the CLI prints as one line)."""
