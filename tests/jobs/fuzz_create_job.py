"""Property-based fuzzing of the CreateJob validator against botocore's Braket service model.

Used by ``tests/jobs/test_fuzz_create_job.py`` (a bounded run in CI) and as a script for a longer
run::

    python tests/jobs/fuzz_create_job.py --minutes 10

Requests are drawn from the service model's own shapes (botocore ``braket/2019-09-01``
``CreateJobRequest``): mostly well-formed values (patterns drawn with ``from_regex``, enums,
lengths and ranges at and around their bounds), mutated at random (a member dropped, an unknown
one added, a value replaced by arbitrary JSON, a newline or NUL appended). The property:

* ``validate_create_job`` either returns or raises ``ValidationException``, never anything else;
* whatever it accepts satisfies every rule of the model (``model_violations`` is empty, and
  botocore's own ``ParamValidator`` finds nothing), with location patterns replaced by this
  runner's local paths, as documented in ``jobs.validation``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import botocore.loaders
import botocore.model
import botocore.validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MODEL = botocore.loaders.Loader().load_service_model("braket", "service-2")
SHAPES = MODEL["shapes"]
INPUT = MODEL["operations"]["CreateJob"]["input"]["shape"]
LOCATION_SHAPES = {"S3Path"}  # local paths here, by design (jobs.validation's docstring)

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=6)


def make_locations(root: Path) -> dict[str, list[str]]:
    """Existing code locations of each kind, and data/output locations, under ``root``."""
    code = root / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "script.py").write_text("pass\n")
    single = root / "single.py"
    single.write_text("pass\n")
    archive = root / "code.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(code / "script.py", arcname="script.py")
    return {"code": [str(code), str(single), str(archive), f"file://{code}", str(root / "missing"),
                     "s3://bucket/key", "https://h/x", "rel/path", ""],
            "other": [str(root), str(root / "out"), f"file://{root}/data/", str(code), "s3://b/k", "ftp://h/x",
                      "file://remote/x", "", "/" + "x" * 1030]}


_TWEAKS = (lambda s: s, lambda s: s + "\n", lambda s: s + "\x00", lambda s: "\n" + s, lambda s: s + "=",
           lambda s: s * 3, lambda s: "", lambda s: " " + s, lambda s: s[:-1])


def _tweaked(base: st.SearchStrategy) -> st.SearchStrategy:
    """``base``, or ``base`` with one edit that breaks most rules (a trailing newline, a NUL, ...)."""
    return base | st.tuples(base, st.sampled_from(_TWEAKS)).map(lambda t: t[1](t[0]))


def string_for(shape_name: str, shape: dict, locations: dict, member: str) -> st.SearchStrategy:
    if shape_name in LOCATION_SHAPES:
        pool = locations["code"] if member == "code" else locations["other"]
        return st.sampled_from(pool) | st.text(max_size=20)
    if "enum" in shape:
        return st.sampled_from(shape["enum"]) | st.text(max_size=12)
    lo, hi = shape.get("min", 0), shape.get("max")
    options = [st.text(min_size=lo, max_size=min(hi or 40, 40))]
    if "pattern" in shape:
        options.append(st.from_regex(shape["pattern"], fullmatch=True).map(lambda v: v[:hi] if hi else v))
    if hi is not None:
        options.append(st.sampled_from(["a" * (hi + 1), "a" * hi]))
    return _tweaked(st.one_of(*options))


def value_for(shape_name: str, locations: dict, member: str = "", depth: int = 0) -> st.SearchStrategy:
    shape = SHAPES[shape_name]
    kind = shape["type"]
    if kind == "structure":
        members = shape["members"]
        required = set(shape.get("required", []))
        fields = {}
        for name, m in members.items():
            role = "code" if name == "s3Uri" and shape_name == "ScriptModeConfig" else name
            fields[name] = value_for(m["shape"], locations, role, depth + 1)
        req = st.fixed_dictionaries({k: v for k, v in fields.items() if k in required},
                                    optional={k: v for k, v in fields.items() if k not in required})
        return req | st.tuples(req, st.integers(0, 2), st.text(min_size=1, max_size=6), JSON).map(_mutate_struct)
    if kind == "list":
        hi = shape.get("max", 3)
        return st.lists(value_for(shape["member"]["shape"], locations, member, depth + 1), max_size=min(hi + 1, 4))
    if kind == "map":
        return st.dictionaries(value_for(shape["key"]["shape"], locations, "key", depth + 1),
                               value_for(shape["value"]["shape"], locations, "value", depth + 1), max_size=4)
    if kind == "integer":
        lo, hi = shape.get("min", -5), shape.get("max", 10 ** 7)
        return st.integers(lo - 2, hi + 2) | st.sampled_from([lo, hi, 0, -1, True]) | st.floats(allow_nan=False)
    if kind == "string":
        return string_for(shape_name, shape, locations, member)
    return JSON


def _mutate_struct(t) -> dict:
    """Drop a member (0), add an unknown one (1) or replace one with arbitrary JSON (2)."""
    d, how, name, junk = t
    keys = sorted(d)
    if how == 1 or not keys:
        return {**d, name: 1}
    victim = keys[hash(name) % len(keys)]
    if how == 0:
        return {k: v for k, v in d.items() if k != victim}
    return {**d, victim: junk}


def valid_request(locations: dict) -> dict:
    return {"jobName": "fuzz", "roleArn": "arn:aws:iam::000000000000:role/fuzz",
            "algorithmSpecification": {"scriptModeConfig": {"entryPoint": "script", "s3Uri": locations["code"][0]}},
            "outputDataConfig": {"s3Path": locations["other"][1]},
            "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 1},
            "deviceConfig": {"device": "local:qsim/statevector"}}


def requests(locations: dict) -> st.SearchStrategy:
    """CreateJob requests: a valid one with one member drawn from the model (about half the time),
    a request drawn whole from the model, or arbitrary JSON."""
    base = valid_request(locations)
    members = SHAPES[INPUT]["members"]

    one_member = st.one_of(*[value_for(m["shape"], locations, name).map(lambda v, name=name: {**base, name: v})
                             for name, m in sorted(members.items())])
    return st.one_of(one_member, value_for(INPUT, locations), JSON)


# --- the oracle: every rule of the model -----------------------------------------------------------


def model_violations(value, shape_name: str = INPUT, path: str = "") -> list[str]:
    """Every way ``value`` breaks the service model (lengths, ranges, enums, full-match patterns,
    required members, types); location patterns are skipped (local paths by design)."""
    shape = SHAPES[shape_name]
    kind, out = shape["type"], []
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: not a structure"]
        for r in shape.get("required", []):
            if value.get(r) is None:
                out.append(f"{path}.{r}: required")
        for k, v in value.items():
            if k not in shape["members"]:
                out.append(f"{path}.{k}: unknown")
            elif v is not None:
                out += model_violations(v, shape["members"][k]["shape"], f"{path}.{k}")
    elif kind == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        if not shape.get("min", 0) <= len(value) <= shape.get("max", len(value)):
            out.append(f"{path}: length {len(value)}")
        for i, v in enumerate(value):
            out += model_violations(v, shape["member"]["shape"], f"{path}[{i}]")
    elif kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: not a map"]
        if not shape.get("min", 0) <= len(value) <= shape.get("max", len(value)):
            out.append(f"{path}: size {len(value)}")
        for k, v in value.items():
            out += model_violations(k, shape["key"]["shape"], f"{path} key")
            out += model_violations(v, shape["value"]["shape"], f"{path}.{k}")
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: not an integer"]
        if not shape.get("min", value) <= value <= shape.get("max", value):
            out.append(f"{path}: {value} out of range")
    elif kind == "string":
        if not isinstance(value, str):
            return [f"{path}: not a string"]
        if "enum" in shape and value not in shape["enum"]:
            out.append(f"{path}: {value!r} not in enum")
        if not shape.get("min", 0) <= len(value) <= shape.get("max", len(value)):
            out.append(f"{path}: length {len(value)}")
        if "pattern" in shape and shape_name not in LOCATION_SHAPES and not re.fullmatch(shape["pattern"], value):
            out.append(f"{path}: {value!r} does not fully match {shape['pattern']}")
    return out


_BOTOCORE_SHAPE = botocore.model.ServiceModel(MODEL, "braket").operation_model("CreateJob").input_shape


def botocore_errors(request: dict) -> str:
    report = botocore.validate.ParamValidator().validate(request, _BOTOCORE_SHAPE)
    return report.generate_report() if report.has_errors() else ""


def check_one(request, base_dir: Path) -> str:
    """Run the validator on one request; return "accepted" or "refused", or raise AssertionError."""
    from jobs.errors import ValidationException
    from jobs.validation import validate_create_job

    try:
        accepted = validate_create_job(request, base_dir)
    except ValidationException as e:
        assert str(e).startswith("ValidationException: ") and e.response["Error"]["Code"] == "ValidationException"
        return "refused"
    except Exception as e:  # noqa: BLE001 - the property: nothing else may escape
        raise AssertionError(f"{type(e).__name__}: {e} for request {json.dumps(request, default=repr)[:2000]}") from e
    problems = model_violations(accepted)
    assert not problems, f"accepted a request the model refuses: {problems}: {request!r}"
    assert not botocore_errors(accepted), botocore_errors(accepted)
    assert "\x00" not in json.dumps(accepted)
    return "accepted"


def run(minutes: float) -> dict:
    """The long run: batches of 500 fresh random examples until ``minutes`` are up; the counts."""
    counts = {"accepted": 0, "refused": 0}
    root = Path(tempfile.mkdtemp(prefix="qsim-fuzz-"))
    locations = make_locations(root)

    @settings(max_examples=500, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(requests(locations))
    def batch(req):
        counts[check_one(req, root)] += 1

    deadline = time.monotonic() + minutes * 60
    while time.monotonic() < deadline:
        batch()
    return counts


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    args = ap.parse_args()
    result = run(args.minutes)
    print(json.dumps({**result, "examples": sum(result.values())}))
    sys.exit(0)
