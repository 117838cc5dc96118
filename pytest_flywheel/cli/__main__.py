import sys

from pytest_flywheel.cli.main import main

sys.exit(main())
