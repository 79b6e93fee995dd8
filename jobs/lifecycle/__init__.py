"""The one lifecycle of a job: claim, stage, launch, finish, reconcile.

    driver.py      every status change and event of a job (create, claim, stage, launched, finish,
                   cancel, end); called by jobs.client, the supervisor, reconcile and hand-run rank 0
    supervisor.py  the detached process per supervised job (``python -m jobs.lifecycle.supervisor``)
    launch.py      the launcher's command line (``mpirun ... python -m jobs.runtime``) and environment
    reconcile.py   a job whose supervisor is gone; the watchdog; stale staging directories
    outcome.py     what a job directory says about how the job ended
    staging.py     files in and out of a job directory (safe_extract, atomic writes, the space reserve)
    limits.py      what a job may use: service limits, capacity, volume, runtime; its ranks' shape
    processes.py   pids, start times, descendants, terminating a job's processes
"""
