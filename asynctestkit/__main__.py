"""``python -m asynctestkit``: ``python -m unittest`` plus ``-j N``, shards, JUnit XML and schedules."""

import sys

__all__ = ()

from ._runner._cli import PROG, main

if __name__ == "__main__":
    sys.argv[0] = PROG
    main()
