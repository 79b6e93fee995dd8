"""The job lifecycle: claim, stage, launch, finish, reconcile (see ``jobs.lifecycle.driver``)."""
