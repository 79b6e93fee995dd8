"""``python -m jobs.runtime``: what each rank of a job runs (``jobs.runtime.runner.main``)."""

import sys

from jobs.runtime.runner import main

sys.exit(main())
