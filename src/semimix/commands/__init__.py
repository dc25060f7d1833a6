"""Subcommands of ``semimix`` that live in their own modules: each has ``add_parser(sub)``, which
registers it on the CLI's subparsers, and ``run(args) -> int``, which does the work and returns the
exit status (raising SemimixError for bad input, which the CLI prints as one line).

Building the parser imports every command module, so their module-level imports stay light (no
torch, numpy, matplotlib, scipy or scikit-learn: ``semimix --help`` answers at once); the functions
that do the work import what they need, and the defaults the help shows come from the light
``semimix.eval.settings``."""
