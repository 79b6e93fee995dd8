"""A Braket-style job script that uses only the runtime contract: environment variables and files.

It imports nothing from ``jobs`` (nor from ``braket``), so the same file runs in a Braket job
container. It reads the hyperparameters file and ``SM_HP_*``, finds its rank the way Braket's MPI
examples do (``OMPI_COMM_WORLD_RANK``), reads its input channel, prints Braket's metrics lines, and
writes ``results.json`` in Braket's PersistedJobData format from rank 0.

What it computes: a Monte-Carlo estimate of pi split over the ranks (each rank writes its share to
the results directory; rank 0 waits for all shares and combines them), so it needs no simulator.
"""

import json
import os
import random
import time


def metric(name, value, iteration):
    print(f"Metrics - timestamp={time.time()}; {name}={value}; iteration_number={iteration};", flush=True)


def main():
    with open(os.environ["AMZN_BRAKET_HP_FILE"]) as f:
        hps = json.load(f)
    samples = int(hps.get("samples", "20000"))
    assert os.environ["SM_HP_SAMPLES"] == hps.get("samples", "20000")
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
    size = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))
    with open(os.path.join(os.environ["AMZN_BRAKET_INPUT_DIR"], "config", "seed.txt")) as f:
        seed = int(f.read()) + rank
    results_dir = os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"]
    print(f"rank {rank}/{size} on {os.environ['SM_CURRENT_HOST']} of {json.loads(os.environ['SM_HOSTS'])}, "
          f"job {os.environ['AMZN_BRAKET_JOB_NAME']}, device {os.environ['AMZN_BRAKET_DEVICE_ARN']}")

    rng = random.Random(seed)
    inside = 0
    for i in range(1, samples + 1):
        x, y = rng.random(), rng.random()
        inside += x * x + y * y <= 1.0
        if i % (samples // 4) == 0:
            metric("pi_estimate", 4.0 * inside / i, i)
    share = os.path.join(results_dir, f".share-{rank}.json")
    with open(share + ".tmp", "w") as f:
        json.dump({"inside": inside, "samples": samples}, f)
    os.replace(share + ".tmp", share)

    if rank == 0:
        shares = []
        for r in range(size):
            path = os.path.join(results_dir, f".share-{r}.json")
            while not os.path.exists(path):
                time.sleep(0.05)
            with open(path) as f:
                shares.append(json.load(f))
        total_in = sum(s["inside"] for s in shares)
        total = sum(s["samples"] for s in shares)
        data = {"pi": 4.0 * total_in / total, "samples": total, "ranks": size}
        with open(os.path.join(results_dir, "results.json"), "w") as f:
            json.dump({"braketSchemaHeader": {"name": "braket.jobs_data.persisted_job_data", "version": "1"},
                       "dataDictionary": data, "dataFormat": "plaintext"}, f)
        print(f"pi ~ {data['pi']:.4f} from {total} samples on {size} rank(s)")


if __name__ == "__main__":
    main()
