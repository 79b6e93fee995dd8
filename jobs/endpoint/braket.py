"""Braket's operations: wire shapes in, ``JobsClient`` / ``TaskStore`` calls, wire shapes out.

Who calls this: ``jobs.endpoint.server`` for requests signed for the ``braket`` service. Routing,
parsing and the response shapes come from botocore's model (``jobs.endpoint.model``); CreateJob is
validated by the jobs package's one validator (``JobsClient.create_job``), every other operation
generically from its input shape.

What is translated, and only here:
  * job ARNs: the store's ``arn:aws:braket:local:...`` is shown with the endpoint's region (the SDK
    requires a job ARN's region to be its session's); both forms are accepted on the way in;
  * locations: ``s3://bucket/key`` of the local S3 becomes the file under ``$QSIM_HOME/s3`` before
    the validator sees it, and back again in responses; GetJob's ``outputDataConfig.s3Path`` ends
    with the job name, where the job's ``output/model.tar.gz`` is (as ``AwsQuantumJob.result()`` reads);
  * Braket's own job images (``<acct>.dkr.ecr.<region>.amazonaws.com/amazon-braket-*-jobs:*``) are
    accepted and dropped: the job runs in this Python environment. Any other image is refused;
  * devices: CreateJob refuses AWS device ARNs that qsim does not serve (``tasks.check_device``).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from werkzeug.wrappers import Response

from jobs.endpoint import devices
from jobs.endpoint.model import ApiError, error_body, service, to_wire, validate
from jobs.errors import JobsError

BRAKET_IMAGE = re.compile(r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/amazon-braket-[a-z0-9-]+-jobs:[\w.\-]+$")
_STORE_JOB_ARN = re.compile(r"^arn:aws:braket:[a-z0-9\-]*:([0-9]{12}):job/")


def _results_dir(job: dict) -> Path:
    """The directory holding the job's ``output/model.tar.gz`` (what GetJob's s3Path must name)."""
    from jobs.store.layout import job_output_dir

    return job_output_dir({"outputDataConfig": job["outputDataConfig"]}, job["jobArn"].split(":job/", 1)[1])


class BraketHandler:
    def __init__(self, endpoint):
        self.ep = endpoint
        self.svc = service("braket")

    def handle(self, request, body: bytes, scope) -> Response:
        raw = request.environ.get("RAW_URI") or request.full_path
        path = raw.split("?", 1)[0]
        try:
            found = self.svc.route(request.method, path)
            if found is None:
                raise ApiError("UnknownOperationException", f"No Braket operation matches {request.method} {path}", 404)
            op, path_params = found
            params = self.svc.parse_rest(op, path_params, request.args, request.headers, body)
            if op.name != "CreateJob":
                validate(op.input_shape, params)
            handler = getattr(self, op.name, None)
            if handler is None:
                raise ApiError("UnknownOperationException", f"{op.name} is not served by qsim's endpoint", 404)
            try:
                result = handler(**params)
            except JobsError as e:
                raise ApiError(e.code, e.message) from None
            out = to_wire(op.output_shape, result) if op.output_shape is not None else {}
            return Response(json.dumps(out), status=op.http.get("responseCode", 200),
                            content_type="application/json")
        except ApiError as e:
            status, headers, payload = error_body(self.svc, e)
            return Response(payload, status=status, headers=headers)

    # --- translation -------------------------------------------------------------------------------

    def wire_arn(self, arn: str) -> str:
        return _STORE_JOB_ARN.sub(f"arn:aws:braket:{self.ep.region}:\\1:job/", arn)

    def to_local(self, uri: str, field: str) -> str:
        if isinstance(uri, str) and uri.startswith("s3://"):
            return self.ep.s3.local_path(uri, field)
        return uri

    def to_wire_paths(self, value):
        if isinstance(value, dict):
            return {k: self.to_wire_paths(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.to_wire_paths(v) for v in value]
        if isinstance(value, str):
            return self.ep.s3.s3_uri(value) or (self.wire_arn(value) if value.startswith("arn:aws:braket:") else value)
        return value

    def _job_request(self, req: dict) -> dict:
        req = copy.deepcopy(req)
        algo = req.get("algorithmSpecification")
        if isinstance(algo, dict):
            image = algo.get("containerImage")
            if isinstance(image, dict) and BRAKET_IMAGE.match(str(image.get("uri", ""))):
                del algo["containerImage"]
            smc = algo.get("scriptModeConfig")
            if isinstance(smc, dict) and "s3Uri" in smc:
                smc["s3Uri"] = self.to_local(smc["s3Uri"], "algorithmSpecification.scriptModeConfig.s3Uri")
        for i, ch in enumerate(req.get("inputDataConfig") or []):
            s3 = ((ch or {}).get("dataSource") or {}).get("s3DataSource") if isinstance(ch, dict) else None
            if isinstance(s3, dict) and "s3Uri" in s3:
                s3["s3Uri"] = self.to_local(s3["s3Uri"], f"inputDataConfig[{i}].dataSource.s3DataSource.s3Uri")
        for key, member in (("outputDataConfig", "s3Path"), ("checkpointConfig", "s3Uri")):
            section = req.get(key)
            if isinstance(section, dict) and member in section:
                section[member] = self.to_local(section[member], f"{key}.{member}")
        device = (req.get("deviceConfig") or {}).get("device") if isinstance(req.get("deviceConfig"), dict) else None
        if isinstance(device, str):
            devices.check_device(device, "deviceConfig.device", for_job=True)
        return req

    # --- jobs --------------------------------------------------------------------------------------

    def CreateJob(self, **req):  # noqa: N802 - operation names as the model spells them
        try:
            arn = self.ep.jobs.create_job(**self._job_request(req))["jobArn"]
        except JobsError as e:  # name the client's s3:// locations, not the files behind them
            raise ApiError(e.code, e.message.replace(str(self.ep.s3.root) + "/", "s3://")) from None
        if req.get("tags"):
            self.ep.tasks.tag(arn, req["tags"])
        return {"jobArn": self.wire_arn(arn)}

    def GetJob(self, jobArn, additionalAttributeNames=None):  # noqa: N802
        job = self.ep.jobs.get_job(jobArn, additionalAttributeNames)
        results = self.ep.s3.s3_uri(str(_results_dir(job)))
        job = self.to_wire_paths(job)
        if results:
            job["outputDataConfig"]["s3Path"] = results
        if additionalAttributeNames and "QueueInfo" in additionalAttributeNames and "queueInfo" not in job:
            job["queueInfo"] = {"queue": "JOBS_QUEUE", "position": "None",
                                "message": f"The job is {job['status']}, not queued"}
        tags = self.ep.tasks.tags(job["jobArn"], job.get("tags"))
        if tags:
            job["tags"] = tags
        return job

    def CancelJob(self, jobArn):  # noqa: N802
        return self.to_wire_paths(self.ep.jobs.cancel_job(jobArn))

    def SearchJobs(self, filters, maxResults=None, nextToken=None):  # noqa: N802
        filters = copy.deepcopy(filters)
        for f in filters:
            if f.get("name") == "jobArn":
                f["values"] = [_STORE_JOB_ARN.sub("arn:aws:braket:local:\\1:job/", v) for v in f.get("values", [])]
        kwargs = {"filters": filters}
        if maxResults is not None:
            kwargs["maxResults"] = maxResults
        if nextToken is not None:
            kwargs["nextToken"] = nextToken
        return self.to_wire_paths(self.ep.jobs.search_jobs(**kwargs))

    # --- quantum tasks and devices -----------------------------------------------------------------

    def CreateQuantumTask(self, **req):  # noqa: N802
        arn = self.ep.tasks.create(req, self.ep)
        self.ep.notify()
        return {"quantumTaskArn": arn}

    def GetQuantumTask(self, quantumTaskArn, additionalAttributeNames=None):  # noqa: N802
        return self.ep.tasks.get(quantumTaskArn, additionalAttributeNames)

    def CancelQuantumTask(self, quantumTaskArn, clientToken=None):  # noqa: N802
        return self.ep.tasks.cancel(quantumTaskArn)

    def SearchQuantumTasks(self, filters, maxResults=None, nextToken=None):  # noqa: N802
        return self.ep.tasks.search(filters, maxResults, nextToken)

    def GetDevice(self, deviceArn):  # noqa: N802
        return devices.get_device(deviceArn)

    def SearchDevices(self, filters, maxResults=None, nextToken=None):  # noqa: N802
        return devices.search_devices(filters, maxResults, nextToken)

    # --- tags --------------------------------------------------------------------------------------

    def _resource(self, arn: str) -> str:
        if ":job/" in arn:
            return self.wire_arn(self.ep.jobs.get_job(arn)["jobArn"])
        if ":quantum-task/" in arn:
            return self.ep.tasks.get(arn)["quantumTaskArn"]
        raise ApiError("ResourceNotFoundException", f"resourceArn: {arn!r} is neither a job nor a quantum task")

    def ListTagsForResource(self, resourceArn):  # noqa: N802
        arn = self._resource(resourceArn)
        initial = self.ep.jobs.get_job(arn).get("tags") if ":job/" in arn else None
        return {"tags": self.ep.tasks.tags(arn, initial)}

    def TagResource(self, resourceArn, tags):  # noqa: N802
        arn = self._resource(resourceArn)
        if ":job/" in arn:
            self.ep.tasks.tags(arn, self.ep.jobs.get_job(arn).get("tags"))  # seed from the request
        self.ep.tasks.tag(arn, tags)
        return {}

    def UntagResource(self, resourceArn, tagKeys):  # noqa: N802
        arn = self._resource(resourceArn)
        if ":job/" in arn:
            self.ep.tasks.tags(arn, self.ep.jobs.get_job(arn).get("tags"))
        self.ep.tasks.untag(arn, tagKeys)
        return {}
