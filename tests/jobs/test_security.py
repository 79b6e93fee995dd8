"""Issue 10, jobs side: hostile archives, the volume, secrets, file modes, MPI's interfaces, names re-used.

Each test fails on the runner before the fix: the CVE-2025-4517 chain wrote outside the job
directory, ranks inherited the caller's whole environment, files were 0644, hydra listened on
0.0.0.0, and a second job of the same name overwrote the first one's results.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import tarfile

import pytest

from jobs.client import JobsClient
from jobs.errors import ValidationException
from tests.jobs.conftest import assert_no_processes, job_row, request, results, wait, wait_for_file

pytestmark = pytest.mark.timeout(120)


# --- 1. archives ------------------------------------------------------------------------------------


def _cve_2025_4517_chain(path, outside_rel: str):
    """The published shape of the CVE-2025-4517 archive: nested directories with long names and
    symlinks to them, so that a link's resolved path exceeds PATH_MAX (os.path.realpath stops
    resolving and the data filter's check passes), then a link through the chain out of the
    target and a file written through it."""
    comp = "d" * 247
    steps = "abcdefghijklmnop"
    members, parent = [], ""
    for step in steps:
        d = tarfile.TarInfo(os.path.join(parent, comp))
        d.type = tarfile.DIRTYPE
        s = tarfile.TarInfo(os.path.join(parent, step))
        s.type, s.linkname = tarfile.SYMTYPE, comp
        members += [(d, None), (s, None)]
        parent = os.path.join(parent, comp)
    link_path = os.path.join("/".join(steps), "l" * 254)
    link = tarfile.TarInfo(link_path)
    link.type, link.linkname = tarfile.SYMTYPE, "../" * len(steps)
    escape = tarfile.TarInfo("escape")
    escape.type, escape.linkname = tarfile.SYMTYPE, link_path + "/" + outside_rel
    payload = tarfile.TarInfo("escape/pwned.py")
    payload.size = 5
    members += [(link, None), (escape, None), (payload, b"pwned")]
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


@pytest.mark.parametrize("launch", [True, False], ids=["create", "no-start"])
def test_cve_2025_4517_symlink_chain_writes_nothing_outside(tmp_path, client, home, launch):
    outside = tmp_path / "outside"
    outside.mkdir()
    # From code/extracted/ inside the job directory, up to tmp_path: jobs/<id>/code/extracted -> home -> tmp_path
    archive = _cve_2025_4517_chain(tmp_path / "code.tar.gz", "../" * 6 + "outside")
    req = request(tmp_path)
    req["algorithmSpecification"]["scriptModeConfig"].update(s3Uri=str(archive), compressionType="GZIP")
    with pytest.raises(ValidationException) as err:
        client.create(req, start=launch)
    message = str(err.value)
    assert "algorithmSpecification.scriptModeConfig.s3Uri: archive member" in message
    assert "is a symbolic link" in message and "links are not extracted" in message
    assert list(outside.iterdir()) == []
    assert client.search_jobs(filters=[])["jobs"] == [] and list((home / "jobs").iterdir()) == []


def test_plain_archive_extracts_with_private_modes(tmp_path, client):
    archive = tmp_path / "code.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data, mode in (("pkg/__init__.py", b"", 0o644), ("pkg/run.py", b"print('ran')\n", 0o755)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    req = request(tmp_path, entry="pkg.run")
    req["algorithmSpecification"]["scriptModeConfig"].update(s3Uri=str(archive), compressionType="GZIP")
    arn = client.create_job(**req)["jobArn"]
    assert wait(client, arn)["status"] == "COMPLETED"
    code = client.get_job_log(arn).parent / "code" / "extracted" / "pkg"
    assert stat.S_IMODE((code / "__init__.py").stat().st_mode) == 0o600
    assert stat.S_IMODE((code / "run.py").stat().st_mode) == 0o700
    assert "ran" in client.get_job_log(arn).read_text()


def _sparse_tar(path, size: int):
    """An uncompressed tar whose one member declares ``size`` bytes (sparse on disk, made instantly)."""
    info = tarfile.TarInfo("script.py")
    info.size = size
    header = info.tobuf(tarfile.GNU_FORMAT)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + ((size + 511) // 512) * 512 + 1024)
    return path


def test_volume_bounds_the_unpacked_code(tmp_path, client, home):
    archive = _sparse_tar(tmp_path / "code.tar", 3 << 29)  # 1.5 GiB: the copy fits in 2 GiB, unpacked it does not
    req = request(tmp_path)
    req["algorithmSpecification"]["scriptModeConfig"].update(s3Uri=str(archive), compressionType="GZIP")
    req["instanceConfig"]["volumeSizeInGb"] = 2
    with pytest.raises(ValidationException) as err:
        client.create_job(**req)
    assert str(err.value).startswith("ValidationException: instanceConfig.volumeSizeInGb: the unpacked archive "
                                     f"code.tar (algorithmSpecification.scriptModeConfig.s3Uri) holds {3 << 29} bytes")
    assert "exceeds instanceConfig.volumeSizeInGb = 2 (2147483648 bytes)" in str(err.value)
    assert list((home / "jobs").iterdir()) == []


def test_volume_bounds_the_input_channels(tmp_path, client):
    data = tmp_path / "big"
    data.mkdir()
    with open(data / "blob.bin", "wb") as f:
        f.truncate((1 << 30) + 1)
    req = request(tmp_path, inputDataConfig=[{"channelName": "big",
                                              "dataSource": {"s3DataSource": {"s3Uri": str(data)}}}])
    arn = client.create_job(**req)["jobArn"]
    job = wait(client, arn)
    assert job["status"] == "FAILED"
    assert "Staging failed: instanceConfig.volumeSizeInGb: input channel 'big'" in job["failureReason"]
    assert "exceeds instanceConfig.volumeSizeInGb = 1 (1073741824 bytes)" in job["failureReason"]
    assert not (client.get_job_log(arn).parent / "input" / "data" / "big").exists()


def test_volume_bounds_what_the_job_writes(tmp_path, client):
    script = """
import os, time
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "huge.bin"), "wb") as f:
    f.truncate((1 << 30) + 1)
time.sleep(60)
"""
    arn = client.create_job(**request(tmp_path, script))["jobArn"]
    job = wait(client, arn, timeout=40)
    assert job["status"] == "FAILED"
    assert re.search(r"The job directory holds \d+ bytes, more than instanceConfig.volumeSizeInGb = 1 "
                     r"\(1073741824 bytes\); the job was stopped", job["failureReason"]), job["failureReason"]
    assert_no_processes(client, arn)


# --- 2. secrets and file modes ----------------------------------------------------------------------

ENV_SCRIPT = """
import os
from jobs import save_job_result

def environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""

ancestors, pid = [], os.getpid()
while pid > 1:
    ancestors.append(environ(pid))
    with open(f"/proc/{pid}/stat") as f:
        pid = int(f.read().rsplit(")", 1)[1].split()[1])
save_job_result({"env": dict(os.environ), "ancestors": ancestors}, all_ranks=False)
"""


def test_ranks_start_from_a_clean_environment(tmp_path, client, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-secret")
    monkeypatch.setenv("KEEP_ME", "kept")
    monkeypatch.setenv("KEEP_PREFIX_A", "kept-a")
    monkeypatch.setenv("QSIM_JOB_PASSTHROUGH_ENV", "KEEP_ME, KEEP_PREFIX_*")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    arn = client.create_job(**request(tmp_path, ENV_SCRIPT, instances=2))["jobArn"]
    assert wait(client, arn)["status"] == "COMPLETED"
    got = results(client, arn)
    env = got["env"]
    assert "AWS_SECRET_ACCESS_KEY" not in env and "GITHUB_TOKEN" not in env
    assert env["KEEP_ME"] == "kept" and env["KEEP_PREFIX_A"] == "kept-a" and env["OMP_NUM_THREADS"] == "1"
    assert env["PATH"] and env["HOME"] and env["AMZN_BRAKET_JOB_NAME"] == "test-job"
    assert env["SM_CURRENT_HOST"] == "algo-1" and "PMI_RANK" in env
    # Not in the process's initial environment either, nor in any ancestor's: the launcher and the
    # supervisor were started without them.
    assert len(got["ancestors"]) >= 3
    for text in got["ancestors"]:
        assert "hunter2-secret" not in text and "ghp-secret" not in text


def test_rank_environment_has_one_hook(tmp_path, monkeypatch):
    """rank_environment = inherited allow-list + contract + extra_environment (which wins)."""
    from jobs.runtime import environment
    from jobs.store.layout import JobPaths

    monkeypatch.setattr(environment, "extra_environment", lambda job, paths, rank: {"EXTRA_VAR": f"r{rank}",
                                                                                     "SM_NUM_GPUS": "hooked"})
    req = request(tmp_path)
    job = {"job_id": "j-1", "request": req, "home": str(tmp_path)}
    env = environment.rank_environment(job, JobPaths(tmp_path / "j"), 1, 2, 1,
                                       base={"PATH": "/bin", "AWS_SESSION_TOKEN": "x", "PMI_RANK": "1"})
    assert env["EXTRA_VAR"] == "r1" and env["SM_NUM_GPUS"] == "hooked"
    assert env["PATH"] == "/bin" and env["PMI_RANK"] == "1" and "AWS_SESSION_TOKEN" not in env
    (tmp_path / "config.json").write_text(json.dumps({"passthrough_env": ["AWS_SESSION_TOKEN"]}))
    env = environment.rank_environment(job, JobPaths(tmp_path / "j"), 0, 1, 0,
                                       base={"AWS_SESSION_TOKEN": "x"})
    assert env["AWS_SESSION_TOKEN"] == "x"


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_state_files_are_private(tmp_path, client, home):
    req = request(tmp_path, "print('hi')\n", hyperParameters={"secret": "s3cr3t"})
    arn = client.create_job(**req)["jobArn"]
    assert wait(client, arn)["status"] == "COMPLETED"
    root = client.get_job_log(arn).parent
    for d in (home, home / "jobs", root):
        assert _mode(d) == 0o700, d
    for dirpath, dirs, files in os.walk(home):
        if "code" in os.path.relpath(dirpath, home).split(os.sep):
            continue  # the user's code keeps its own modes, inside the 0700 job directory
        for name in dirs:
            if name != "code":
                assert _mode(os.path.join(dirpath, name)) == 0o700, os.path.join(dirpath, name)
        for name in files:
            p = os.path.join(dirpath, name)
            assert _mode(p) & 0o077 == 0, (p, oct(_mode(p)))
    for f in ("jobs.db", "jobs.db-wal", "jobs.db-shm"):
        if (home / f).exists():
            assert _mode(home / f) == 0o600
    assert _mode(root / "job.json") == 0o600 and _mode(root / "input" / "config" / "hyperparameters.json") == 0o600
    # Existing wider modes are narrowed the next time the store is opened.
    for d in (home, home / "jobs", root):
        os.chmod(d, 0o755)
    os.chmod(home / "jobs.db", 0o644)
    JobsClient(home)
    assert [_mode(d) for d in (home, home / "jobs", root)] == [0o700] * 3 and _mode(home / "jobs.db") == 0o600


# --- 3. MPI's interfaces ----------------------------------------------------------------------------

LISTEN_SCRIPT = """
import os, time
from mpi4py import MPI
comm = MPI.COMM_WORLD
comm.Barrier()
total = comm.allreduce(comm.rank + 1)
if comm.rank == 0:
    open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "ready"), "w").write(str(total))
time.sleep(4)
comm.Barrier()
"""


def _listeners() -> list[tuple[str, int]]:
    """(local address, pid) of every listening TCP and UDP socket, from ``ss``."""
    out = subprocess.run(["ss", "-Hltunp"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 6:
            continue
        for pid in re.findall(r"pid=(\d+)", line):
            found.append((fields[4], int(pid)))
    return found


def test_two_rank_job_listens_on_loopback_only(tmp_path, client):
    arn = client.create_job(**request(tmp_path, LISTEN_SCRIPT, instances=2))["jobArn"]
    root = client.get_job_log(arn).parent
    wait_for_file(root / "output" / "data" / "ready", timeout=60)
    row = job_row(client, arn)
    from jobs.lifecycle import processes

    pids = set(processes.job_processes(row.job_id)) | {row.supervisor_pid, row.launcher_pgid}
    mine = [(addr, pid) for addr, pid in _listeners() if pid in pids]
    job = wait(client, arn)
    assert job["status"] == "COMPLETED", job.get("failureReason")
    assert (root / "output" / "data" / "ready").read_text() == "3"  # the two ranks talked
    assert mine, "the ranks opened no listening socket at all: nothing was checked"
    outside = [(addr, pid) for addr, pid in mine if not addr.startswith(("127.", "[::1]", "::1"))]
    assert outside == [], f"listening beyond loopback: {outside}"


def test_hostfile_binds_to_the_shared_interface(tmp_path, home, monkeypatch):
    from jobs.lifecycle.launch import launcher_command, launcher_environment
    from jobs.store.layout import JobPaths

    hostfile = tmp_path / "hosts"
    hostfile.write_text("node-a:2\nnode-b:2\n")
    monkeypatch.setenv("QSIM_HOSTFILE", str(hostfile))
    monkeypatch.setenv("QSIM_JOBS_IFACE", "eth7")
    cmd, net = launcher_command(request(tmp_path, instances=2), JobPaths(tmp_path / "j"), home)
    assert cmd[cmd.index("-iface") + 1] == "eth7" and cmd[cmd.index("-f") + 1] == str(hostfile)
    assert net == {"UCX_NET_DEVICES": "eth7", "FI_TCP_IFACE": "eth7", "FI_SOCKETS_IFACE": "eth7"}
    assert launcher_environment("j", home, net)["UCX_NET_DEVICES"] == "eth7"
    monkeypatch.delenv("QSIM_HOSTFILE")
    cmd, net = launcher_command(request(tmp_path, instances=2), JobPaths(tmp_path / "j"), home)
    assert "mpiexec.gforker" in cmd[0] and set(net.values()) == {"lo"}


# --- 5. a re-used name ------------------------------------------------------------------------------


def test_reused_job_name_keeps_each_jobs_results(tmp_path, client):
    script = "import sys\nfrom jobs import save_job_result, get_hyperparameters\n" \
             "save_job_result({'which': get_hyperparameters()['which']})\n"
    first = client.create_job(**request(tmp_path, script, name="same", hyperParameters={"which": "first"}))["jobArn"]
    assert wait(client, first)["status"] == "COMPLETED"
    second = client.create_job(**request(tmp_path, script, name="same", hyperParameters={"which": "second"}))["jobArn"]
    assert wait(client, second)["status"] == "COMPLETED"
    assert results(client, first) == {"which": "first"}
    assert results(client, second) == {"which": "second"}
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(a.split(":job/")[1] for a in (first, second))
    assert client.get_job_log(first) != client.get_job_log(second)
