"""jobs: run Braket-style hybrid jobs locally, under mpirun, on qsim's embedded simulator.

Layers, top to bottom (each imports only the ones below it; qsim never imports jobs):

    jobs.cli            `python -m qsim job ...` / `python -m jobs ...`
    jobs.client         JobsClient: create_job / get_job / cancel_job / search_jobs (boto3 shapes)
    jobs.lifecycle.supervisor     detached per-job process: stage, mpirun, max runtime, cancel, upload
    jobs.lifecycle.reconcile       reconciliation when a supervisor dies; the watchdog; stale staging dirs
    jobs.runtime.runner         `job exec` inside each rank: environment, output, entry point, MPI Abort
    jobs.store.db          SQLite state under $QSIM_HOME      jobs.lifecycle.staging   files in and out (safe_extract)
    jobs.validation     CreateJob/SearchJobs rules         jobs.lifecycle.processes pids, descendants, kill
    jobs.lifecycle.limits         service limits, host capacity, the job's volume
    jobs.runtime.environment    the runtime contract (AMZN_BRAKET_*, SM_*, job directory layout) and the
                        one function that builds a rank's environment (rank_environment)
    jobs.runtime.persistence    save/load results and checkpoints, log_metric (used by job scripts)

A job script uses the same functions as ``braket.jobs``::

    from jobs import get_device, get_hyperparameters, save_job_result, log_metric
"""

from jobs.runtime.environment import (get_checkpoint_dir, get_hyperparameters, get_input_data_dir, get_job_device_arn,
                              get_job_name, get_results_dir)
from jobs.errors import ConflictException, JobsError, ResourceNotFoundException, ValidationException
from jobs.runtime.persistence import (PersistedJobDataFormat, load_job_checkpoint, load_job_result, log_metric,
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
