"""``get_device()``: the device a job script should run on.

Who calls this: job scripts (``from jobs import get_device``). ``local:qsim/<name>`` gives qsim's
device (which shards one state vector over all ranks of MPI.COMM_WORLD when run under mpirun
with more than one rank); any other device string is returned to the script as a string in
``AMZN_BRAKET_DEVICE_ARN`` for it to interpret, so this raises for those.
"""

from __future__ import annotations

from jobs.runtime.environment import get_job_device_arn


def get_device(arn: str | None = None, **options):
    """qsim's device for ``arn`` (default: this job's ``AMZN_BRAKET_DEVICE_ARN``)."""
    arn = arn or get_job_device_arn()
    if not arn.startswith("local:qsim/"):
        raise ValueError(f"get_device: {arn!r} is not a qsim device; read AMZN_BRAKET_DEVICE_ARN "
                         "(jobs.get_job_device_arn()) and create that device yourself")
    import qsim

    return qsim.device(arn, **options)
