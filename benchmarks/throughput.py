"""Training throughput of several methods on one model: now ``semimix bench speed`` (this wrapper
keeps old invocations working).

    python benchmarks/throughput.py --model convlarge --methods supervised,ict,advmixup \
        --labeled-batch 32 --unlabeled-batch 128 --steps 10 --warmup 2
"""

from __future__ import annotations

import sys

from semimix.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "speed", *sys.argv[1:]]))
