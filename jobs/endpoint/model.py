"""The wire protocols, driven by botocore's service models (the same files boto3 reads).

Who calls this: ``jobs.endpoint.server`` (routing, request parsing, responses, errors) and the
handlers. Nothing here knows what an operation does.

  * ``Service``: one botocore service model. For rest-json (Braket) it builds the route table
    from each operation's ``http.method``/``requestUri`` and parses a request into the
    operation's input (uri, querystring, header and body members); for json (Logs, ECR) the
    operation comes from ``X-Amz-Target``.
  * ``validate``: every rule the input shape states (required, types, lengths, patterns, enums,
    ranges), generically, raising ``ApiError("ValidationException", ...)`` naming the member path.
  * ``to_wire``: an output value as JSON, timestamps in the shape's (or protocol's) format.
  * ``ApiError``: a modelled error; ``error_response`` gives its status, headers and body as the
    service sends them (rest-json: ``x-amzn-ErrorType`` and ``{"message", ...}``; json: ``__type``).
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import unquote

import botocore.session


class ApiError(Exception):
    """An error the service models, e.g. ``ApiError("ResourceNotFoundException", "no job ...", 404)``."""

    def __init__(self, code: str, message: str, status: int | None = None, **members):
        super().__init__(message)
        self.code, self.message, self.status, self.members = code, message, status, members


@lru_cache(maxsize=None)
def _session():
    return botocore.session.get_session()


@lru_cache(maxsize=None)
def service(name: str) -> "Service":
    return Service(_session().get_service_model(name))


class Service:
    def __init__(self, model):
        self.model = model
        self.protocol = model.metadata["protocol"]
        self.target_prefix = model.metadata.get("targetPrefix")
        self._routes = []
        if self.protocol == "rest-json":
            for name in model.operation_names:
                op = model.operation_model(name)
                uri = op.http["requestUri"]
                path, _, query = uri.partition("?")
                regex = "^" + re.sub(r"\\\{([A-Za-z0-9_]+)(\\\+)?\\\}",
                                     lambda m: f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})",
                                     re.escape(path)) + "/?$"
                self._routes.append((op.http["method"], re.compile(regex), op))

    def status_of(self, code: str, default: int = 400) -> int:
        try:
            return self.model.shape_for(code).metadata.get("error", {}).get("httpStatusCode", default)
        except Exception:  # noqa: BLE001 - not a modelled error
            return default

    # --- rest-json ------------------------------------------------------------------------------

    def route(self, method: str, path: str):
        """(operation model, path parameters) for a rest-json request, or None."""
        allowed = False
        for m, regex, op in self._routes:
            match = regex.match(path)
            if match:
                if m == method:
                    return op, {k: unquote(v) for k, v in match.groupdict().items()}
                allowed = True
        if allowed:
            raise ApiError("UnknownOperationException", f"{method} is not allowed on {path}", 405)
        return None

    def parse_rest(self, op, path_params: dict, query, headers, body: bytes) -> dict:
        shape = op.input_shape
        if shape is None:
            return {}
        params = {}
        payload = {}
        if body:
            try:
                payload = json.loads(body)
            except ValueError as e:
                raise ApiError("ValidationException", f"The request body is not valid JSON: {e}") from None
            if not isinstance(payload, dict):
                raise ApiError("ValidationException", "The request body must be a JSON object")
        for name, member in shape.members.items():
            loc = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if loc == "uri":
                if wire in path_params:
                    params[name] = path_params[wire]
            elif loc == "querystring":
                if member.type_name == "list":
                    values = query.getlist(wire)
                    if values:
                        params[name] = values
                elif wire in query:
                    params[name] = _scalar(member, query[wire], name)
            elif loc == "header":
                if headers.get(wire) is not None:
                    params[name] = _scalar(member, headers.get(wire), name)
            elif name in payload:
                params[name] = payload[name]
        known = {n for n, m in shape.members.items() if not m.serialization.get("location")}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ApiError("ValidationException", f"{unknown[0]}: unknown parameter for {op.name}; valid "
                                                  f"parameters are {', '.join(sorted(known))}")
        return params

    # --- json (X-Amz-Target) --------------------------------------------------------------------

    def operation_for_target(self, target: str | None):
        if not target or "." not in target:
            return None
        prefix, _, name = target.rpartition(".")
        if prefix != self.target_prefix or name not in self.model.operation_names:
            return None
        return self.model.operation_model(name)

    def parse_json(self, request, body: bytes, served=None):
        """(operation, validated parameters) of a JSON-protocol request (ECR, CloudWatch Logs),
        from its X-Amz-Target header and body; ``served`` limits the operations answered."""
        target = request.headers.get("X-Amz-Target")
        op = self.operation_for_target(target)
        if op is None or (served is not None and op.name not in served):
            only = f" (only {', '.join(served)})" if served is not None else ""
            raise ApiError("UnknownOperationException",
                           f"X-Amz-Target {target!r} is not an operation qsim's endpoint serves{only}", 400)
        try:
            params = json.loads(body or b"{}")
        except ValueError as e:
            raise ApiError("SerializationException", f"The request body is not valid JSON: {e}", 400) from None
        validate(op.input_shape, params)
        return op, params


def _scalar(member, text: str, field: str):
    if member.type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise ApiError("ValidationException", f"{field}: {text!r} is not an integer") from None
    if member.type_name == "boolean":
        return text.lower() == "true"
    return text


# --- validation -------------------------------------------------------------------------------------


def _fail(path: str, rule: str):
    raise ApiError("ValidationException", f"{path or 'request'}: {rule}")


def validate(shape, value, path: str = "") -> None:
    """Every rule in ``shape`` (botocore Shape) against ``value``; raises ApiError naming ``path``."""
    if shape is None:
        return
    meta, t = shape.metadata, shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            _fail(path, f"must be an object, got {type(value).__name__}")
        for req in shape.required_members:
            if value.get(req) is None:
                _fail(_join(path, req), "is required")
        unknown = sorted(set(value) - set(shape.members))
        if unknown:
            _fail(_join(path, unknown[0]), f"unknown parameter; valid parameters are {', '.join(shape.members)}")
        if meta.get("union"):
            if len([v for v in value.values() if v is not None]) != 1:
                _fail(path, "exactly one member must be set")
        for name, v in value.items():
            if v is not None:
                validate(shape.members[name], v, _join(path, name))
        return
    if t == "list":
        if not isinstance(value, list):
            _fail(path, f"must be a list, got {type(value).__name__}")
        _length(meta, len(value), path, "entries")
        for i, v in enumerate(value):
            validate(shape.member, v, f"{path}[{i}]")
        return
    if t == "map":
        if not isinstance(value, dict):
            _fail(path, f"must be an object, got {type(value).__name__}")
        _length(meta, len(value), path, "entries")
        for k, v in value.items():
            validate(shape.key, k, f"{path} key {k!r}")
            validate(shape.value, v, f"{path}.{k}")
        return
    if t == "string":
        if not isinstance(value, str):
            _fail(path, f"must be a string, got {type(value).__name__} {value!r}")
        _length(meta, len(value), path, "characters")
        if shape.enum and value not in shape.enum:
            _fail(path, f"{value!r} is not one of {', '.join(shape.enum)}")
        pattern = meta.get("pattern")
        if pattern and not _pattern(pattern).fullmatch(value):
            _fail(path, f"{value!r} does not match {pattern}")
        if shape.serialization.get("jsonvalue") or getattr(shape, "name", "") == "JsonValue":
            try:
                json.loads(value)
            except ValueError as e:
                _fail(path, f"is not valid JSON: {e}")
        return
    if t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(path, f"must be an integer, got {type(value).__name__} {value!r}")
        if "min" in meta and value < meta["min"]:
            _fail(path, f"must be >= {meta['min']}, got {value}")
        if "max" in meta and value > meta["max"]:
            _fail(path, f"must be <= {meta['max']}, got {value}")
        return
    if t in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(path, f"must be a number, got {value!r}")
        return
    if t == "boolean":
        if not isinstance(value, bool):
            _fail(path, f"must be true or false, got {value!r}")
        return
    if t == "timestamp":
        if not isinstance(value, (int, float, str)):
            _fail(path, f"must be a timestamp, got {value!r}")


@lru_cache(maxsize=None)
def _pattern(pattern: str) -> re.Pattern:
    """A service-model pattern, compiled. botocore's models carry the patterns without anchors; the
    service matches a value as a whole, so ``validate`` full-matches them (as ``jobs.validation``
    does for CreateJob): a name with a trailing newline or extra characters is refused."""
    return re.compile(pattern)


def _length(meta, n: int, path: str, unit: str) -> None:
    if "min" in meta and n < meta["min"]:
        _fail(path, f"must have at least {meta['min']} {unit}, got {n}")
    if "max" in meta and n > meta["max"]:
        _fail(path, f"must have at most {meta['max']} {unit}, got {n}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def page_token(offset: int) -> str:
    """A nextToken for the page starting at ``offset`` (opaque to clients, as the service's are)."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def page_offset(token) -> int:
    if token is None:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError):
        raise ApiError("ValidationException", f"nextToken: {token!r} is not a token from this API") from None


# --- responses --------------------------------------------------------------------------------------


def to_wire(shape, value, default_ts: str = "iso8601"):
    """A handler's output value as JSON-able data shaped by ``shape``; unknown members are dropped."""
    if value is None or shape is None:
        return value
    t = shape.type_name
    if t == "structure":
        return {name: to_wire(shape.members[name], v, default_ts) for name, v in value.items()
                if name in shape.members and v is not None
                and not shape.members[name].serialization.get("location")}
    if t == "list":
        return [to_wire(shape.member, v, default_ts) for v in value]
    if t == "map":
        return {k: to_wire(shape.value, v, default_ts) for k, v in value.items()}
    if t == "timestamp":
        fmt = shape.serialization.get("timestampFormat", default_ts)
        if isinstance(value, (int, float)):
            value = datetime.fromtimestamp(value, tz=timezone.utc)
        if fmt == "unixTimestamp":
            return value.timestamp()
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def error_body(service_obj: Service, err: ApiError) -> tuple[int, dict, bytes]:
    status = err.status or service_obj.status_of(err.code)
    if service_obj.protocol == "json":
        body = {"__type": err.code, "message": err.message, **err.members}
        return status, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body).encode()
    body = {"message": err.message, **err.members}
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": err.code}, json.dumps(body).encode()
