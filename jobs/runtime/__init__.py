"""What runs inside each rank of a job: the runner, the environment contract, persistence, metrics, device.

    runner.py       ``python -m jobs.runtime`` / ``job exec``: one call per rank (output, entry point, failure)
    environment.py  the runtime contract: AMZN_BRAKET_* / SM_* getters and each rank's environment
    persistence.py  save/load results and checkpoints (Braket's names and formats)
    metrics.py      Braket's metrics line: log_metric, and records parsed out of a job's log
    device.py       ``get_device()``: qsim's device for the job

The launcher starts each rank as ``python -m jobs.runtime --job-dir DIR`` (no detour through
``python -m qsim``); ``python -m qsim job exec ...`` and ``python -m jobs exec ...`` take the same
arguments (``add_exec_arguments``) and run the same ``runner.exec_job``.
"""


def add_exec_arguments(parser) -> None:
    """The arguments of ``job exec`` and ``python -m jobs.runtime`` (an argparse parser)."""
    parser.add_argument("arn", nargs="?", help="a QUEUED job created with --no-start")
    parser.add_argument("--job-dir", help="the job directory (what the supervisor's launcher passes)")
    parser.add_argument("--spec", help="create the job from this CreateJob JSON and run it here")
