"""``python -m jobs ...``: the same commands as ``python -m qsim job ...``."""

import sys

from jobs.cli import main

sys.exit(main())
