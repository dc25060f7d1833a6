"""``python -m semimix`` runs the CLI (and is what torchrun will launch)."""

import sys

from semimix.cli import main

sys.exit(main())
