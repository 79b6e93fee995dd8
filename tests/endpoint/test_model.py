"""The endpoint's generic validator matches service-model patterns against the whole value."""

import botocore.session
import pytest

from jobs.endpoint.model import ApiError, validate

BRAKET = botocore.session.get_session().get_service_model("braket")


@pytest.mark.parametrize("shape, value, ok", [
    ("CreateJobRequestJobNameString", "qaoa-1", True),
    ("CreateJobRequestJobNameString", "x\n", False),     # `$` would match before the newline
    ("CreateJobRequestJobNameString", "ok name", False),  # a search would find "ok"
    ("InputFileConfigChannelNameString", "train", True),
    ("InputFileConfigChannelNameString", "in/put", False),
    ("JobArn", "arn:aws:braket:us-east-1:000000000000:job/abc", True),
    ("JobArn", "see arn:aws:braket:us-east-1:000000000000:job/abc", False),
])
def test_patterns_match_the_whole_value(shape, value, ok):
    s = BRAKET.shape_for(shape)
    if ok:
        validate(s, value, "field")
    else:
        with pytest.raises(ApiError) as e:
            validate(s, value, "field")
        assert "does not match" in str(e.value) and "field" in str(e.value)
