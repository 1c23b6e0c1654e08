"""How ``benchmarks.serve_profile`` places py-spy's samples: the split that says what a store costs."""

from __future__ import annotations

import pytest

from benchmarks import serve_profile
from benchmarks.serve_profile import READ, REST

SERVE = "thread (0x1): MainThread;serve (/v/uvicorn/server.py:60)"
FEAST_READ = "_read_features_per_fv (/v/feast/utils.py:1200)"
RAW = "\n".join(
    [
        # Feast's generic read, filling the response: the read, by Feast.
        f"{SERVE};{FEAST_READ};_populate_response_from_feature_data (/v/feast/utils.py:900) 30",
        # This store's engine thread, whatever is innermost: the read.
        "thread (0x2): dynamodb-read-0;_send (/v/feast_chalk_dynamo/dynamo/client.py:281) 20",
        "thread (0x2): dynamodb-read-0;sign (/v/botocore/auth.py:400) 10",
        # The response's JSON, outside any read: the rest of feast serve.
        f"{SERVE};iterencode (/usr/lib/python3.11/json/encoder.py:258) 40",
        "not a sample line",
    ]
)


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ([SERVE, FEAST_READ, "x (/v/google/protobuf/message.py:1)"], (READ, "protobuf")),
        ([SERVE, "fill (/v/feast_chalk_dynamo/reads/value_columns.py:46)"], (READ, "the store's code")),
        (
            ["thread (0x2): dynamodb-read-0", "sign (/v/botocore/auth.py:400)"],
            (READ, serve_profile.MODULES[1][0]),
        ),
        ([SERVE, "handle (/v/h11/_connection.py:1)"], (REST, serve_profile.MODULES[5][0])),
        ([SERVE, "mystery (/v/elsewhere.py:1)"], (REST, serve_profile.OTHER)),
    ],
)
def test_a_sample_is_placed_by_its_stack_and_its_innermost_module(
    frames: list[str], expected: tuple[str, str]
) -> None:
    assert serve_profile.place(frames) == expected


def test_the_measured_cpu_is_split_by_the_samples_shares() -> None:
    split = serve_profile.breakdown(RAW, cpu_ms_per_request=10.0)

    assert split == {
        (READ, "Feast"): 3.0,
        (READ, "the store's code"): 2.0,
        (READ, serve_profile.MODULES[1][0]): 1.0,
        (REST, "json"): 4.0,
    }
    assert serve_profile.hottest(RAW, 10.0, top=1) == [
        ("iterencode (/usr/lib/python3.11/json/encoder.py:258)", 4.0)
    ]


def test_no_samples_split_nothing() -> None:
    assert serve_profile.breakdown("", 10.0) == {}
