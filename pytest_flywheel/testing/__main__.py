"""``python -m pytest_flywheel.testing --port N [--judge pass|fail|SCRIPT]``: see :mod:`.serve`."""

import sys

from pytest_flywheel.testing.serve import main

sys.exit(main())
