"""The few calls the Braket SDK makes to STS, IAM and ECR before it creates a job.

Who calls this: ``jobs.endpoint.server`` for requests signed for ``sts``, ``iam`` (query protocol:
a form body with ``Action=...``, XML answers) and ``ecr`` (json protocol).

  * STS GetCallerIdentity: account ``000000000000`` (the SDK names its default bucket after it).
  * IAM ListRoles / GetRole: one role, ``/service-role/AmazonBraketJobsExecutionRole``, the role
    ``AwsQuantumJob.create`` looks for when none is given. Nothing checks permissions against it.
  * ECR BatchGetImage: Braket's job images (``amazon-braket-*-jobs``) as two tags, ``latest`` and
    one naming *this* Python (``-pyXY-``), so ``@hybrid_job``'s version check compares the client
    with the interpreter the job will really run under. Other repositories: RepositoryNotFound.
"""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from jobs.endpoint.model import ApiError, error_body, service

ROLE_NAME, ROLE_PATH = "AmazonBraketJobsExecutionRole", "/service-role/"
_NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/", "iam": "https://iam.amazonaws.com/doc/2010-05-08/"}


def query_error(svc: str, code: str, message: str, status: int = 400) -> Response:
    body = (f'<ErrorResponse xmlns="{_NS[svc]}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
    return Response(body, status=status, content_type="text/xml")


def _query_response(svc: str, action: str, inner: str) -> Response:
    body = (f'<{action}Response xmlns="{_NS[svc]}"><{action}Result>{inner}</{action}Result>'
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>")
    return Response(body, content_type="text/xml")


class _QueryHandler:
    name = ""

    def __init__(self, endpoint):
        self.ep = endpoint
        self.svc = service(self.name)

    def handle(self, request, body: bytes, scope) -> Response:
        form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
        form.update({k: v for k, v in request.args.items()})
        action = form.pop("Action", None)
        form.pop("Version", None)
        handler = getattr(self, action or "", None) if (action or "").isidentifier() else None
        if handler is None or action not in self.svc.model.operation_names:
            return query_error(self.name, "InvalidAction", f"The action {action!r} is not valid for this web service "
                                                           "(or not served by qsim's endpoint)", 400)
        try:
            return handler(form)
        except ApiError as e:
            return query_error(self.name, e.code, e.message, e.status or 400)


class StsHandler(_QueryHandler):
    name = "sts"

    def GetCallerIdentity(self, form):  # noqa: N802
        acct = self.ep.account
        return _query_response("sts", "GetCallerIdentity",
                               f"<Arn>arn:aws:iam::{acct}:user/qsim</Arn><UserId>AIDAQSIMLOCALENDPOINT</UserId>"
                               f"<Account>{acct}</Account>")


class IamHandler(_QueryHandler):
    name = "iam"

    def _role_xml(self) -> str:
        acct = self.ep.account
        policy = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "braket.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
        return (f"<Path>{ROLE_PATH}</Path><RoleName>{ROLE_NAME}</RoleName><RoleId>AROAQSIMLOCALENDPOINT</RoleId>"
                f"<Arn>arn:aws:iam::{acct}:role{ROLE_PATH}{ROLE_NAME}</Arn>"
                f"<CreateDate>2020-01-01T00:00:00Z</CreateDate>"
                f"<AssumeRolePolicyDocument>{escape(policy)}</AssumeRolePolicyDocument>"
                "<Description>qsim's local endpoint: the default Braket jobs role</Description>"
                "<MaxSessionDuration>3600</MaxSessionDuration>")

    def ListRoles(self, form):  # noqa: N802
        prefix = form.get("PathPrefix", "/")
        roles = f"<member>{self._role_xml()}</member>" if ROLE_PATH.startswith(prefix) else ""
        return _query_response("iam", "ListRoles", f"<IsTruncated>false</IsTruncated><Roles>{roles}</Roles>")

    def GetRole(self, form):  # noqa: N802
        name = form.get("RoleName")
        if name != ROLE_NAME:
            raise ApiError("NoSuchEntity", f"The role with name {name} cannot be found.", 404)
        return _query_response("iam", "GetRole", f"<Role>{self._role_xml()}</Role>")


class EcrHandler:
    def __init__(self, endpoint):
        self.ep = endpoint
        self.svc = service("ecr")

    def handle(self, request, body: bytes, scope) -> Response:
        try:
            _, params = self.svc.parse_json(request, body, served=("BatchGetImage",))
            return Response(json.dumps(self.batch_get_image(**params)), content_type="application/x-amz-json-1.1")
        except ApiError as e:
            status, headers, payload = error_body(self.svc, e)
            return Response(payload, status=status, headers=headers)

    def batch_get_image(self, repositoryName, imageIds, registryId=None, acceptedMediaTypes=None):
        if not (repositoryName.startswith("amazon-braket-") and repositoryName.endswith("-jobs")):
            raise ApiError("RepositoryNotFoundException", f"The repository with name '{repositoryName}' does not "
                                                          "exist (qsim's endpoint serves Braket's job images only)")
        py = f"py{sys.version_info.major}{sys.version_info.minor}"
        tags = ["latest", f"1.0-cpu-{py}-ubuntu22.04"]
        digest = "sha256:" + hashlib.sha256(f"{repositoryName}:{py}".encode()).hexdigest()
        images, failures = [], []
        for image_id in imageIds:
            if image_id.get("imageDigest") == digest:
                wanted = tags
            elif image_id.get("imageTag") in tags and not image_id.get("imageDigest"):
                wanted = [image_id["imageTag"]]
            else:
                failures.append({"imageId": image_id, "failureCode": "ImageNotFound",
                                 "failureReason": "Requested image not found"})
                continue
            images += [{"registryId": registryId or "292282985366", "repositoryName": repositoryName,
                        "imageId": {"imageDigest": digest, "imageTag": t}, "imageManifest": "{}",
                        "imageManifestMediaType": "application/vnd.docker.distribution.manifest.v2+json"}
                       for t in wanted]
        return {"images": images, "failures": failures}
