"""jobs: run Braket-style hybrid jobs locally, under mpirun, on qsim's embedded simulator.

Where things are, front ends first (the front ends reach the lifecycle only through jobs.client; the
runner reaches the lifecycle only for hand-run jobs; qsim never imports jobs):

    jobs.cli              `python -m qsim job ...` / `python -m jobs ...` (over jobs.client)
    jobs.endpoint         `python -m qsim serve`: the Braket/S3/Logs/... endpoint (over jobs.client)
    jobs.client           the API: JobsClient, boto3's method names and shapes
    jobs.validation       the one validator of CreateJob / SearchJobs requests
    jobs.lifecycle        the one lifecycle: driver (every status change: create, claim, stage,
                          launched, finish, cancel, end), supervisor (the detached process per job),
                          launch (the mpirun line), reconcile (watchdog, crashed supervisors, stale
                          staging), staging (files in and out), limits, processes
    jobs.runtime          inside each rank (`python -m jobs.runtime`, `job exec`): runner,
                          environment (the AMZN_BRAKET_*/SM_* contract), persistence, metrics, device
    jobs.store            db (SQLite jobs + events) and layout (every file name under $QSIM_HOME
                          and in a job directory, spelled once)
    jobs.errors           Braket's exception names

A job script uses the same functions as ``braket.jobs``::

    from jobs import get_device, get_hyperparameters, save_job_result, log_metric
"""

from jobs.errors import ConflictException, JobsError, ResourceNotFoundException, ValidationException
from jobs.runtime.environment import (get_checkpoint_dir, get_hyperparameters, get_input_data_dir,
                                      get_job_device_arn, get_job_name, get_results_dir)
from jobs.runtime.metrics import log_metric
from jobs.runtime.persistence import (PersistedJobDataFormat, load_job_checkpoint, load_job_result,
                                      save_job_checkpoint, save_job_result)


def get_device(arn: str | None = None, **options):
    """qsim's device for this job (``local:qsim/statevector``); see ``jobs.runtime.device``."""
    from jobs.runtime.device import get_device as _get_device

    return _get_device(arn, **options)


def JobsClient(home=None):  # noqa: N802 - a factory that reads like the class
    """The jobs client (``jobs.client.JobsClient``), imported lazily to keep scripts light."""
    from jobs.client import JobsClient as _JobsClient

    return _JobsClient(home)


__all__ = ["get_device", "JobsClient", "save_job_result", "load_job_result", "save_job_checkpoint",
           "load_job_checkpoint", "log_metric", "get_hyperparameters", "get_input_data_dir",
           "get_job_device_arn", "get_job_name", "get_results_dir", "get_checkpoint_dir",
           "PersistedJobDataFormat", "JobsError", "ValidationException", "ConflictException",
           "ResourceNotFoundException"]
