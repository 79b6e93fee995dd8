"""What runs inside each rank of a job: the runner, the environment contract, persistence, metrics, device."""
