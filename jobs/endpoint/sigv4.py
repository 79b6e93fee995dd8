"""SigV4 verification of a received request, with botocore's own canonicalisation and signer.

Who calls this: ``jobs.endpoint.server`` for every request, before routing. The expected signature
is recomputed from the request as received (method, raw path and query, the headers the client
says it signed, the body or its declared SHA-256) by ``botocore.auth.SigV4Auth`` (``S3SigV4Auth``
for S3, which signs the path unnormalised) and compared with ``hmac.compare_digest``.

Refused (``SignatureError`` with the AWS code for the request's service; see ``server``):
  * no ``Authorization`` header, or not ``AWS4-HMAC-SHA256`` (presigned URLs are not served);
  * an access key this endpoint did not issue;
  * a credential scope whose date is not the date of ``X-Amz-Date``, or whose terminator is not
    ``aws4_request``; an ``X-Amz-Date`` more than ``MAX_SKEW_SECONDS`` from this machine's clock;
  * a body whose SHA-256 differs from the signed ``X-Amz-Content-SHA256``;
  * any difference between the recomputed and the received signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_SKEW_SECONDS = 15 * 60  # what AWS services allow
_AUTH = re.compile(r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})\s*$")
_UNSIGNED = ("UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")


class SignatureError(Exception):
    """``kind`` is missing | unknown_key | mismatch | skew | scope."""

    def __init__(self, kind: str, message: str, service: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.service = service


@dataclass(frozen=True)
class Scope:
    access_key: str
    date: str
    region: str
    service: str


def credential_scope(authorization: str | None) -> Scope | None:
    """The credential scope named in an Authorization header (None if it has none)."""
    m = _AUTH.match(authorization or "")
    if not m:
        return None
    parts = m.group(1).split("/")
    if len(parts) != 5:
        return None
    return Scope(parts[0], parts[1], parts[2], parts[3])


def verify(method: str, host: str, raw_uri: str, headers, body: bytes, secrets: dict[str, str],
           now: datetime | None = None) -> Scope:
    """Check the signature of one request; return its credential scope or raise SignatureError.

    ``raw_uri`` is the path and query exactly as sent; ``headers`` any case-insensitive mapping
    with ``get``; ``secrets`` maps access key ids to secret keys.
    """
    authorization = headers.get("Authorization")
    m = _AUTH.match(authorization or "")
    scope = credential_scope(authorization)
    if m is None or scope is None:
        raise SignatureError("missing", "Missing or malformed Authorization header (AWS4-HMAC-SHA256 required)")
    service = scope.service
    secret = secrets.get(scope.access_key)
    if secret is None:
        raise SignatureError("unknown_key", f"The access key id {scope.access_key!r} is not known to this "
                                            "endpoint (see $QSIM_HOME/endpoint.env)", service)
    if m.group(1).split("/")[4] != "aws4_request":
        raise SignatureError("scope", "Credential scope must end with aws4_request", service)
    amz_date = headers.get("X-Amz-Date")
    try:
        when = datetime.strptime(amz_date or "", "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise SignatureError("scope", f"X-Amz-Date {amz_date!r} is missing or not YYYYMMDDTHHMMSSZ",
                             service) from None
    if scope.date != amz_date[:8]:
        raise SignatureError("scope", f"Credential scope date {scope.date} does not match X-Amz-Date "
                                      f"{amz_date}", service)
    now = now or datetime.now(timezone.utc)
    skew = abs((now - when).total_seconds())
    if skew > MAX_SKEW_SECONDS:
        raise SignatureError("skew", f"Signature expired or not yet valid: X-Amz-Date {amz_date} is {skew:.0f} s "
                                     f"from the server's time {now:%Y%m%dT%H%M%SZ} (allowed: "
                                     f"{MAX_SKEW_SECONDS} s)", service)
    signed = m.group(2).split(";")
    declared = headers.get("X-Amz-Content-SHA256")
    if declared and declared not in _UNSIGNED and not declared.startswith("STREAMING-"):
        if not hmac.compare_digest(declared, hashlib.sha256(body).hexdigest()):
            raise SignatureError("mismatch", "The provided x-amz-content-sha256 header does not match what "
                                             "was computed", service)
    sign_headers = {}
    for name in signed:
        value = host if name == "host" else headers.get(name)
        if value is None:
            raise SignatureError("mismatch", f"Signed header {name!r} is missing from the request", service)
        sign_headers[name] = value
    request = AWSRequest(method=method, url=f"http://{host}{raw_uri}", data=body, headers=sign_headers)
    request.context["timestamp"] = amz_date
    signer_class = S3SigV4Auth if service == "s3" else SigV4Auth
    signer = signer_class(Credentials(scope.access_key, secret), service, scope.region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, m.group(3)):
        raise SignatureError("mismatch", "The request signature we calculated does not match the signature you "
                                         "provided. Check your AWS Secret Access Key and signing method.", service)
    return scope
