"""``python -m check_digitalsentry.simulator``: the ``dsports-simulator`` command."""

import sys

from check_digitalsentry.simulator.cli import main

if __name__ == "__main__":
    sys.exit(main())
