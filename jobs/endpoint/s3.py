"""The local S3: buckets and objects as directories and files under ``$QSIM_HOME/s3``.

Who calls this: ``jobs.endpoint.server`` for requests signed for ``s3`` (path-style addressing,
which botocore uses for an IP endpoint such as 127.0.0.1), and ``jobs.endpoint.braket`` /
``jobs.endpoint.tasks`` to map ``s3://bucket/key`` to and from local files.

Served: CreateBucket, HeadBucket, GetBucketLocation, ListObjects(V2) (prefix, delimiter,
max-keys, continuation), PutObject, GetObject (with Range), HeadObject, CopyObject, DeleteObject,
and multipart uploads (create, upload part, complete, abort).
Other requests get S3's ``NotImplemented``. Errors are S3's XML ``<Error>`` documents.

An object ``bucket/a/b`` is the file ``s3/bucket/a/b``: a key can therefore not be both an object
and a prefix of another (``a`` and ``a/b``); such a write is refused. Keys with ``..`` or empty
segments are refused, so nothing is written outside the bucket. Writes go to a temporary file and
are renamed into place. ETags are MD5 hex digests of the content.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import re
import tempfile
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from jobs.endpoint.model import ApiError

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def s3_error(code: str, message: str, status: int, **extra) -> Response:
    fields = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in extra.items())
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}'
            f"</Message>{fields}<RequestId>{uuid.uuid4().hex}</RequestId></Error>")
    return Response(body, status=status, content_type="application/xml")


class S3Error(Exception):
    def __init__(self, code: str, message: str, status: int, **extra):
        super().__init__(message)
        self.code, self.message, self.status, self.extra = code, message, status, extra


def _xml(tag: str, inner: str) -> Response:
    return Response(f'<?xml version="1.0" encoding="UTF-8"?>\n<{tag} xmlns="{NS}">{inner}</{tag}>',
                    content_type="application/xml")


def _http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def _iso(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _etag(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return f'"{h.hexdigest()}"'


class LocalS3:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # --- names -------------------------------------------------------------------------------------

    def bucket_dir(self, bucket: str) -> Path:
        if not BUCKET_PATTERN.match(bucket or "") or ".." in bucket:
            raise S3Error("InvalidBucketName", f"The specified bucket {bucket!r} is not valid.", 400,
                          BucketName=bucket)
        return self.root / bucket

    def object_path(self, bucket: str, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in ("", ".", ".."):
            raise S3Error("InvalidArgument", f"Object key {key!r} is not served by the local S3 (empty, '.' or "
                                             "'..' segments)", 400, Key=key)
        return self.bucket_dir(bucket).joinpath(*parts)

    def local_path(self, uri: str, field: str) -> str:
        """``s3://bucket/key`` as the local file or directory path (for the jobs validator)."""
        parsed = urlparse(uri)
        bucket, key = parsed.netloc, unquote(parsed.path.lstrip("/"))
        try:
            base = self.bucket_dir(bucket)
            if not key:
                return str(base)
            trailing = key.endswith("/")
            path = self.object_path(bucket, key.rstrip("/"))
        except S3Error as e:
            raise ApiError("ValidationException", f"{field}: {uri!r}: {e.message}") from None
        if not base.is_dir():
            raise ApiError("ValidationException", f"{field}: {uri!r}: bucket {bucket!r} does not exist in the "
                                                  "local S3")
        return str(path) + ("/" if trailing else "")

    def s3_uri(self, path: str) -> str | None:
        """The ``s3://`` URI of a local path under the local S3 (None if it is elsewhere)."""
        if not isinstance(path, str) or not path.startswith(str(self.root) + os.sep):
            return None
        rel = path[len(str(self.root)) + 1:]
        return "s3://" + rel

    # --- objects -----------------------------------------------------------------------------------

    def put(self, bucket: str, key: str, data: bytes) -> str:
        if not self.bucket_dir(bucket).is_dir():
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket)
        path = self.object_path(bucket, key)
        for parent in list(path.parents)[::-1]:
            if parent.is_file():
                raise S3Error("InvalidArgument", f"Key {key!r}: {parent.name!r} is already an object; the local S3 "
                                                 "cannot hold an object and a prefix of the same name", 400, Key=key)
        if path.is_dir():
            raise S3Error("InvalidArgument", f"Key {key!r} is a prefix of other objects in the local S3", 400, Key=key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return f'"{hashlib.md5(data).hexdigest()}"'

    def get_path(self, bucket: str, key: str) -> Path:
        if not self.bucket_dir(bucket).is_dir():
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket)
        path = self.object_path(bucket, key)
        if not path.is_file() or path.name.startswith(".") and path.name.endswith(".part"):
            raise S3Error("NoSuchKey", "The specified key does not exist.", 404, Key=key)
        return path

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        base = self.bucket_dir(bucket)
        if not base.is_dir():
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket)
        start = base
        head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        if head:
            start = base.joinpath(*[p for p in head.split("/") if p not in ("", ".", "..")])
            if not start.is_dir():
                return []
        out = []
        for dirpath, dirnames, filenames in os.walk(start):
            for name in filenames:
                if name.startswith(".") and name.endswith(".part"):
                    continue
                key = os.path.relpath(os.path.join(dirpath, name), base).replace(os.sep, "/")
                if key.startswith(prefix):
                    out.append(key)
        return sorted(out)


class S3Handler:
    def __init__(self, endpoint):
        self.ep = endpoint
        self.s3: LocalS3 = endpoint.s3

    def handle(self, request, body: bytes, scope) -> Response:
        raw = request.environ.get("RAW_URI") or request.full_path
        path = unquote(raw.split("?", 1)[0])
        bucket, _, key = path.lstrip("/").partition("/")
        args = request.args
        try:
            if not bucket:
                if request.method == "GET":
                    return self.list_buckets()
                raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)
            if key and ("uploads" in args or "uploadId" in args):
                return self.multipart(request, bucket, key, body, args)
            if any(k in args for k in ("uploads", "uploadId", "tagging", "acl", "policy", "versioning", "delete")):
                raise S3Error("NotImplemented", f"{request.method} with ?{'&'.join(args)} is not implemented by "
                                                "qsim's local S3", 501)
            if not key:
                return self.bucket_op(request.method, bucket, args)
            return self.object_op(request, bucket, key, body)
        except S3Error as e:
            if request.method == "HEAD":
                return Response(status=e.status)
            return s3_error(e.code, e.message, e.status, **e.extra)

    def list_buckets(self) -> Response:
        items = "".join(f"<Bucket><Name>{escape(p.name)}</Name><CreationDate>{_iso(p.stat().st_ctime)}</CreationDate>"
                        "</Bucket>" for p in sorted(self.s3.root.iterdir()) if p.is_dir())
        return _xml("ListAllMyBucketsResult", f"<Owner><ID>{self.ep.account}</ID></Owner><Buckets>{items}</Buckets>")

    def bucket_op(self, method: str, bucket: str, args) -> Response:
        base = self.s3.bucket_dir(bucket)
        if method == "PUT":
            if base.is_dir():
                raise S3Error("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket "
                                                         "succeeded and you already own it.", 409, BucketName=bucket)
            base.mkdir(parents=True)
            return Response(status=200, headers={"Location": f"/{bucket}"})
        if not base.is_dir():
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket)
        if method == "HEAD":
            return Response(status=200, headers={"x-amz-bucket-region": self.ep.region})
        if method == "DELETE":
            if any(base.iterdir()):
                raise S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", 409, BucketName=bucket)
            base.rmdir()
            return Response(status=204)
        if method == "GET" and "location" in args:
            region = "" if self.ep.region == "us-east-1" else self.ep.region
            return _xml("LocationConstraint", escape(region))
        if method == "GET":
            return self.list_objects(bucket, args)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)

    def list_objects(self, bucket: str, args) -> Response:
        v2 = args.get("list-type") == "2"
        prefix, delimiter = args.get("prefix", ""), args.get("delimiter", "")
        try:
            max_keys = max(0, min(1000, int(args.get("max-keys", "1000"))))
        except ValueError:
            raise S3Error("InvalidArgument", f"max-keys {args.get('max-keys')!r} is not an integer", 400) from None
        after = args.get("continuation-token") or args.get("start-after") or args.get("marker") or ""
        entries, prefixes, truncated, last = [], [], False, ""
        for k in self.s3.keys(bucket, prefix):
            if after and k <= after:
                continue
            if delimiter:
                cut = k.find(delimiter, len(prefix))
                if cut >= 0:
                    cp = k[:cut + len(delimiter)]
                    if cp in prefixes or (after and cp <= after):
                        continue
                    if len(entries) + len(prefixes) >= max_keys:
                        truncated = True
                        break
                    prefixes.append(cp)
                    last = cp + "\uffff"
                    continue
            if len(entries) + len(prefixes) >= max_keys:
                truncated = True
                break
            entries.append(k)
            last = k
        contents = []
        for k in entries:
            p = self.s3.object_path(bucket, k)
            st = p.stat()
            contents.append(f"<Contents><Key>{escape(k)}</Key><LastModified>{_iso(st.st_mtime)}</LastModified>"
                            f"<ETag>{escape(_etag(p))}</ETag><Size>{st.st_size}</Size>"
                            "<StorageClass>STANDARD</StorageClass></Contents>")
        inner = (f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix><MaxKeys>{max_keys}</MaxKeys>"
                 + (f"<Delimiter>{escape(delimiter)}</Delimiter>" if delimiter else "")
                 + f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>" + "".join(contents)
                 + "".join(f"<CommonPrefixes><Prefix>{escape(cp)}</Prefix></CommonPrefixes>" for cp in prefixes))
        if v2:
            inner += f"<KeyCount>{len(entries) + len(prefixes)}</KeyCount>"
            if truncated:
                inner += f"<NextContinuationToken>{escape(last)}</NextContinuationToken>"
        elif truncated:
            inner += f"<NextMarker>{escape(last)}</NextMarker>"
        return _xml("ListBucketResult", inner)

    def multipart(self, request, bucket: str, key: str, body: bytes, args) -> Response:
        """CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload (what
        boto3's upload_file uses above 8 MB). Parts wait in ``$QSIM_HOME/s3-uploads/<id>/``."""
        uploads = self.s3.root.parent / "s3-uploads"
        method = request.method
        if method == "POST" and "uploads" in args:
            self.s3.object_path(bucket, key)
            if not self.s3.bucket_dir(bucket).is_dir():
                raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket)
            upload_id = uuid.uuid4().hex
            (uploads / upload_id).mkdir(parents=True)
            (uploads / upload_id / "target").write_text(f"{bucket}/{key}")
            return _xml("InitiateMultipartUploadResult", f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
                                                         f"<UploadId>{upload_id}</UploadId>")
        upload_id = args.get("uploadId", "")
        folder = uploads / upload_id
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id) or not folder.is_dir() or \
                (folder / "target").read_text() != f"{bucket}/{key}":
            raise S3Error("NoSuchUpload", "The specified multipart upload does not exist.", 404, UploadId=upload_id)
        if method == "PUT":
            try:
                number = int(args.get("partNumber", ""))
            except ValueError:
                number = 0
            if not 1 <= number <= 10000:
                raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000", 400)
            (folder / f"{number:05d}").write_bytes(body)
            return Response(status=200, headers={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})
        if method == "DELETE":
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
            return Response(status=204)
        if method == "POST":
            numbers = [int(n) for n in re.findall(r"<PartNumber>\s*(\d+)\s*</PartNumber>", body.decode(errors="replace"))]
            missing = [n for n in numbers if not (folder / f"{n:05d}").is_file()]
            if not numbers or missing or numbers != sorted(numbers):
                raise S3Error("InvalidPart", f"Parts {missing or numbers} were not uploaded or are out of order", 400)
            data = b"".join((folder / f"{n:05d}").read_bytes() for n in numbers)
            etag = self.s3.put(bucket, key, data)
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
            return _xml("CompleteMultipartUploadResult", f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
                                                         f"<ETag>{escape(etag)}</ETag>")
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)

    def object_op(self, request, bucket: str, key: str, body: bytes) -> Response:
        method = request.method
        if method == "PUT":
            source = request.headers.get("x-amz-copy-source")
            if source:
                src = unquote(source.split("?", 1)[0]).lstrip("/")
                sb, _, sk = src.partition("/")
                data = self.s3.get_path(sb, sk).read_bytes()
                etag = self.s3.put(bucket, key, data)
                mtime = self.s3.object_path(bucket, key).stat().st_mtime
                return _xml("CopyObjectResult", f"<LastModified>{_iso(mtime)}</LastModified><ETag>{escape(etag)}</ETag>")
            etag = self.s3.put(bucket, key, body)
            return Response(status=200, headers={"ETag": etag})
        if method == "DELETE":
            try:
                path = self.s3.get_path(bucket, key)
                path.unlink()
            except S3Error as e:
                if e.code != "NoSuchKey":
                    raise
            return Response(status=204)
        if method in ("GET", "HEAD"):
            path = self.s3.get_path(bucket, key)
            st = path.stat()
            headers = {"ETag": _etag(path), "Last-Modified": _http_date(st.st_mtime), "Accept-Ranges": "bytes",
                       "Content-Type": "binary/octet-stream"}
            size = st.st_size
            rng = request.headers.get("Range")
            start, end, status = 0, size - 1, 200
            if rng:
                m = re.match(r"^bytes=(\d*)-(\d*)$", rng.strip())
                if not m or (not m.group(1) and not m.group(2)):
                    raise S3Error("InvalidRange", f"The requested range {rng!r} is not satisfiable", 416)
                if m.group(1):
                    start = int(m.group(1))
                    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                else:
                    start = max(0, size - int(m.group(2)))
                if start >= size or start > end:
                    raise S3Error("InvalidRange", f"The requested range {rng!r} is not satisfiable", 416)
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            headers["Content-Length"] = str(end - start + 1 if size else 0)
            if method == "HEAD":
                return Response(status=status, headers=headers)
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read(end - start + 1) if size else b""
            return Response(data, status=status, headers=headers)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)



