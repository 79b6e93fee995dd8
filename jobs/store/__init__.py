"""Job state: the SQLite store (``jobs.store.db``) and where a job's files live (``jobs.store.layout``)."""
