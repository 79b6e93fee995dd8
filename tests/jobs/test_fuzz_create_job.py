"""The CreateJob validator fuzzed against botocore's service model (a bounded run; the long one is
``python tests/jobs/fuzz_create_job.py --minutes N``): every accepted request satisfies every rule
of the model, every refused one raises ValidationException, nothing else ever escapes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.jobs.fuzz_create_job import check_one, make_locations, model_violations, requests, valid_request

pytestmark = pytest.mark.timeout(300)

EXAMPLES = 200


@pytest.fixture(scope="module")
def locations(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    return root, make_locations(root)


def test_the_oracle_tells_good_from_bad(locations):
    """The model check itself: a valid request passes it, each broken rule is found."""
    root, locs = locations
    good = {**valid_request(locs), "clientToken": "t"}
    assert model_violations(good) == []
    assert check_one(good, root) == "accepted"
    assert model_violations({**good, "jobName": "x\n"})  # full match: the trailing newline breaks it
    assert model_violations({**good, "hyperParameters": {"k": ""}})
    assert model_violations({**good, "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 0}})


def test_validator_against_the_service_model(locations):
    root, locs = locations
    counts = {"accepted": 0, "refused": 0}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(requests(locs))
    def prop(req):
        counts[check_one(req, root)] += 1

    prop()
    assert sum(counts.values()) >= EXAMPLES // 2
    assert counts["accepted"] > 0 and counts["refused"] > 0, counts  # both sides of the property were exercised
