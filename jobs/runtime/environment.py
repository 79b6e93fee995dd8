"""The runtime contract a Braket job script sees, in one module.

Two halves:
  * getters a script calls (``get_job_name`` ... ``get_hyperparameters``), each reading one
    ``AMZN_BRAKET_*`` variable with Braket's local default, so a script also runs outside a job;
  * ``rank_environment`` (every ``AMZN_BRAKET_*`` and ``SM_*`` variable for one rank), used by
    ``jobs.runtime.runner`` inside each rank, and the config files ``jobs.lifecycle.driver.stage``
    writes (``resource_config``, ``input_data_config``); ``inherited_environment`` is also what the
    supervisor and the launcher keep of the caller's environment.

The job directory (``jobs.store.layout.JobPaths``) stands in for the container's /opt/ml.
All instances share it, so ``SM_CURRENT_HOST`` differs per rank but ``resourceconfig.json``
names algo-1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jobs.lifecycle.limits import host_names, network_interface, processes_per_host
from jobs.store import layout
from jobs.store.layout import JobPaths

# --- getters used by job scripts (Braket names and defaults) --------------------------------------


def get_job_name() -> str:
    return os.getenv("AMZN_BRAKET_JOB_NAME", "")


def get_job_device_arn() -> str:
    return os.getenv("AMZN_BRAKET_DEVICE_ARN", "local:none/none")


def get_input_data_dir(channel: str = "input") -> str:
    base = os.getenv("AMZN_BRAKET_INPUT_DIR")
    return f"{base}/{channel}" if base else "."


def get_results_dir() -> str:
    return os.getenv("AMZN_BRAKET_JOB_RESULTS_DIR", ".")


def get_checkpoint_dir() -> str:
    return os.getenv("AMZN_BRAKET_CHECKPOINT_DIR", ".")


def get_hyperparameters() -> dict[str, str]:
    path = os.getenv("AMZN_BRAKET_HP_FILE")
    if not path:
        return {}
    with open(path) as f:
        return json.load(f)


def mpi_rank() -> tuple[int, int, int]:
    """(rank, size, local rank) from the launcher's variables (MPICH, Open MPI, PMIx); (0, 1, 0) alone."""
    for r, s, lr in (("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),
                     ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
                     ("PMIX_RANK", "PMIX_SIZE", "PMIX_LOCAL_RANK")):
        if os.getenv(r) is not None:
            rank = int(os.environ[r])
            return rank, int(os.getenv(s, "1")), int(os.getenv(lr, str(rank)))
    return 0, 1, 0


def resource_config(request: dict, current_host: str = "algo-1", home=None) -> dict:
    hosts = host_names(request)
    iface = network_interface(Path(home)) if home else "lo"
    return {"current_host": current_host, "current_instance_type": request["instanceConfig"]["instanceType"],
            "current_group_name": "homogeneousCluster", "hosts": hosts,
            "instance_groups": [{"instance_group_name": "homogeneousCluster",
                                 "instance_type": request["instanceConfig"]["instanceType"], "hosts": hosts}],
            "network_interface_name": iface}


def input_data_config(request: dict) -> dict:
    return {ch["channelName"]: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                                "RecordWrapperType": "None",
                                **({"ContentType": ch["contentType"]} if "contentType" in ch else {})}
            for ch in request.get("inputDataConfig") or []}


def _decode(value: str):
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


# --- the environment a rank starts from -----------------------------------------------------------
#
# A Braket job starts from the service's variables, not the caller's shell: a rank inherits only
# what Python, MPI and the threads need, plus what the user names explicitly, and then gets the
# contract's variables. Everything else of the caller (AWS_SECRET_ACCESS_KEY, tokens, ...) stays out.

INHERITED_NAMES = frozenset((
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TZ", "TMPDIR", "HOSTNAME",
    "LD_LIBRARY_PATH", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PYENV_ROOT", "PYENV_VERSION",
))
INHERITED_PREFIXES = ("LC_", "PYTHON", "OMP_", "KMP_", "GOMP_", "MKL_", "OPENBLAS_", "BLIS_", "NUMBA_", "QSIM_")
# MPI's settings (tuning a user may set) and, inside a rank, the launcher's own variables.
MPI_PREFIXES = ("MPICH_", "MPIR_CVAR_", "I_MPI_", "FI_", "UCX_", "OMPI_MCA_", "PRTE_MCA_", "OPAL_")
LAUNCHER_PREFIXES = ("PMI_", "PMIX_", "HYDRA_", "MPI_", "MPIR_", "OMPI_", "PRTE_", "HYD_")
PASSTHROUGH_VARIABLE = "QSIM_JOB_PASSTHROUGH_ENV"
# Never inherited, whatever a pattern says: this runner sets them (the contract, its own markers).
_OWN_PREFIXES = ("AMZN_BRAKET_", "SM_", "QSIM_JOB_ID", "QSIM_JOBS_SUPERVISED")


def passthrough_names(home: str | os.PathLike | None, environ=None) -> tuple[str, ...]:
    """Names the user passes through to ranks: ``QSIM_JOB_PASSTHROUGH_ENV`` (comma or space
    separated; ``NAME_*`` for a prefix) and ``passthrough_env`` (a list) in ``$QSIM_HOME/config.json``."""
    environ = os.environ if environ is None else environ
    names = [n for n in environ.get(PASSTHROUGH_VARIABLE, "").replace(",", " ").split() if n]
    if home is not None:
        try:
            extra = layout.load_config(Path(home)).get("passthrough_env") or []
        except ValueError:  # an unreadable config.json passes nothing through
            extra = []
        names += [str(n) for n in extra if isinstance(n, str)] if isinstance(extra, list) else []
    return tuple(names)


def _named(name: str, patterns: tuple[str, ...]) -> bool:
    return any(name.startswith(p[:-1]) if p.endswith("*") else name == p for p in patterns)


def inherited_environment(base, home: str | os.PathLike | None, launcher: bool = False) -> dict[str, str]:
    """The part of ``base`` (an environment) that a job's processes keep.

    ``launcher=True`` inside a rank: the MPI launcher's own variables (PMI_*, HYDRA_*, ...) are
    kept too, since MPI_Init needs them; outside one (supervisor, mpirun) they are dropped, so a
    job created from inside an MPI program never joins that program's world.
    """
    passthrough = passthrough_names(home, base)
    keep = {}
    for name, value in base.items():
        if name.startswith(_OWN_PREFIXES):
            ours = launcher and name in ("QSIM_JOB_ID", "QSIM_JOBS_SUPERVISED")  # set by the supervisor
        elif name.startswith(LAUNCHER_PREFIXES) and not name.startswith(MPI_PREFIXES):
            ours = launcher
        else:
            ours = (name in INHERITED_NAMES or name.startswith(INHERITED_PREFIXES) or name.startswith(MPI_PREFIXES)
                    or _named(name, passthrough))
        if ours:
            keep[name] = value
    return keep


def extra_environment(job: dict, paths: "JobPaths", rank: int) -> dict[str, str]:
    """The one place where variables beyond the contract are added to every rank's environment.

    Returns ``{name: value}``; it runs last, so its variables win. A feature that gives jobs
    something to talk to (e.g. the local Braket endpoint: its URL and the credentials the SDK
    needs) adds its variables here and nowhere else. Today: the local Braket endpoint's, when this
    QSIM_HOME has one and the job's device is one it serves (``jobs.endpoint.rank_variables``).
    """
    from jobs.endpoint import rank_variables

    return rank_variables(job)


def rank_environment(job: dict, paths: JobPaths, rank: int, size: int, local_rank: int,
                     base=None) -> dict[str, str]:
    """The complete environment of one rank (the runner replaces ``os.environ`` with it).

    Built in three steps, in this order: what the rank inherits from ``base`` (default
    ``os.environ``; see ``inherited_environment``: Python, MPI and thread settings, the user's
    pass-through names), every variable of the contract (``contract_environment``), then
    ``extra_environment``. ``job`` is the content of ``job.json``.
    """
    env = inherited_environment(os.environ if base is None else base, job.get("home"), launcher=True)
    env.update(contract_environment(job, paths, rank, size, local_rank))
    env.update(extra_environment(job, paths, rank))
    return env


def contract_environment(job: dict, paths: JobPaths, rank: int, size: int, local_rank: int) -> dict[str, str]:
    """Every variable of the contract for one rank. ``job`` is the content of ``job.json``."""
    req = job["request"]
    smc = req["algorithmSpecification"]["scriptModeConfig"]
    name = req["jobName"]
    hps = req.get("hyperParameters") or {}
    channels = [ch["channelName"] for ch in req.get("inputDataConfig") or []]
    hosts = host_names(req)
    host = hosts[min(rank // processes_per_host(req), len(hosts) - 1)]
    out = layout.output_root(req)
    rc = resource_config(req, host, job.get("home"))
    env = {
        "AMZN_BRAKET_JOB_NAME": name,
        "AMZN_BRAKET_DEVICE_ARN": req["deviceConfig"]["device"],
        "AMZN_BRAKET_JOB_RESULTS_DIR": str(paths.model_dir),
        "AMZN_BRAKET_CHECKPOINT_DIR": str(paths.checkpoint_dir),
        "AMZN_BRAKET_HP_FILE": str(paths.hp_file),
        "AMZN_BRAKET_INPUT_DIR": str(paths.data_dir),
        "AMZN_BRAKET_OUT_S3_BUCKET": str(out),
        "AMZN_BRAKET_TASK_RESULTS_S3_URI": layout.task_results_dir(req, job["job_id"]).as_uri(),
        "AMZN_BRAKET_JOB_RESULTS_S3_PATH": str(layout.job_results_dir(req, job["job_id"])),
        "AMZN_BRAKET_SCRIPT_S3_URI": smc["s3Uri"],
        "AMZN_BRAKET_SCRIPT_ENTRY_POINT": smc["entryPoint"],
        "AMZN_BRAKET_SCRIPT_COMPRESSION_TYPE": smc.get("compressionType", "NONE"),
        "AMZN_BRAKET_JOB_TOKEN": job["job_id"],
        # Open MPI's names, which Braket scripts read to find their rank; MPICH sets PMI_* itself.
        "OMPI_COMM_WORLD_RANK": str(rank),
        "OMPI_COMM_WORLD_SIZE": str(size),
        "OMPI_COMM_WORLD_LOCAL_RANK": str(local_rank),
        "SM_HOSTS": json.dumps(hosts),
        "SM_CURRENT_HOST": host,
        "SM_CURRENT_INSTANCE_TYPE": req["instanceConfig"]["instanceType"],
        "SM_CURRENT_INSTANCE_GROUP": "homogeneousCluster",
        "SM_NUM_GPUS": "0",
        "SM_NUM_CPUS": str(os.cpu_count() or 1),
        "SM_NETWORK_INTERFACE_NAME": rc["network_interface_name"],
        "SM_LOG_LEVEL": "20",
        "SM_RESOURCE_CONFIG": json.dumps(rc),
        "SM_INPUT_DATA_CONFIG": json.dumps(input_data_config(req)),
        "SM_HPS": json.dumps({k: _decode(v) for k, v in hps.items()}),
        "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_MODEL_DIR": str(paths.model_dir),
        "SM_INPUT_DIR": str(paths.input_dir),
        "SM_INPUT_CONFIG_DIR": str(paths.input_config),
        "SM_OUTPUT_DIR": str(paths.output_dir),
        "SM_OUTPUT_DATA_DIR": str(paths.output_data_dir),
        "SM_OUTPUT_INTERMEDIATE_DIR": str(paths.output_intermediate_dir),
        "SM_MODULE_DIR": str(paths.code_dir),
        "SM_MODULE_NAME": smc["entryPoint"].split(":")[0],
        "SM_USER_ENTRY_POINT": smc["entryPoint"],
        "SM_USER_ARGS": "[]",
        "SM_FRAMEWORK_MODULE": "",
        "SM_FRAMEWORK_PARAMS": "{}",
    }
    for k, v in hps.items():
        env[f"SM_HP_{k.upper()}"] = v
    for ch in channels:
        env[f"SM_CHANNEL_{ch.upper()}"] = str(paths.data_dir / ch)
    env["SM_TRAINING_ENV"] = json.dumps({
        "channel_input_dirs": {ch: str(paths.data_dir / ch) for ch in channels},
        "current_host": host, "hosts": hosts, "hyperparameters": json.loads(env["SM_HPS"]),
        "input_config_dir": str(paths.input_config), "input_data_config": input_data_config(req),
        "input_dir": str(paths.input_dir), "job_name": name, "log_level": 20,
        "model_dir": str(paths.model_dir), "module_dir": str(paths.code_dir),
        "module_name": env["SM_MODULE_NAME"], "network_interface_name": rc["network_interface_name"], "num_cpus": os.cpu_count() or 1,
        "num_gpus": 0, "output_data_dir": str(paths.output_data_dir), "output_dir": str(paths.output_dir),
        "resource_config": rc, "user_entry_point": smc["entryPoint"],
    })
    return env
