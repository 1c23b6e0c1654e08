"""How long the simulated DynamoDB takes to answer a read: a distribution, drawn once per request.

A spec is ``fixed:MS`` or ``lognormal:p50=MS,p99=MS``. The default stands for DynamoDB seen from EC2
in the same region. AWS publishes no percentiles of its own: it says that GetItem and PutItem
average single-digit milliseconds (re:Post, "How can I troubleshoot high latency on an Amazon
DynamoDB table?", https://repost.aws/knowledge-center/dynamodb-high-latency; the AWS Database Blog,
"Understanding Amazon DynamoDB latency",
https://aws.amazon.com/blogs/database/understanding-amazon-dynamodb-latency/) and that the high
percentiles see occasional spikes (Developer Guide, "Troubleshooting latency issues in Amazon
DynamoDB", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TroubleshootingLatency.html).
A p50 of 4 ms fits the first; a p99 of 15 ms, some 4x the median, is this project's assumption
for the second (issue 20), not a measured figure. A lognormal is the usual shape of a service's
latency: bounded below, a long right tail.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from statistics import NormalDist

DEFAULT_READ_LATENCY = "lognormal:p50=4,p99=15"
_Z99 = NormalDist().inv_cdf(0.99)  # a lognormal's p99 is exp(mu + 2.326 sigma)
_LOGNORMAL = re.compile(r"lognormal:p50=([0-9.]+),p99=([0-9.]+)")
_FIXED = re.compile(r"fixed:([0-9.]+)")


@dataclass(frozen=True)
class Latency:
    """A latency distribution: ``median_ms``, and ``sigma`` of its logarithm (0: always the median)."""

    spec: str
    median_ms: float
    sigma: float

    @classmethod
    def parse(cls, spec: str) -> Latency:
        """``fixed:MS`` or ``lognormal:p50=MS,p99=MS`` (spaces ignored); ValueError naming the forms."""
        text = spec.replace(" ", "")
        try:
            if match := _FIXED.fullmatch(text):
                fixed_ms = float(match[1])
                if fixed_ms < 3_600_000:
                    return cls(text, fixed_ms, 0.0)
            elif match := _LOGNORMAL.fullmatch(text):
                p50, p99 = float(match[1]), float(match[2])
                if 0 < p50 <= p99 < 3_600_000:
                    return cls(text, p50, math.log(p99 / p50) / _Z99)
        except ValueError:
            pass
        raise ValueError(
            f"latency {spec!r} is not 'fixed:MS' or 'lognormal:p50=MS,p99=MS' (0 < p50 <= p99, under 1 h)"
        )

    def draw(self, rng: random.Random) -> float:
        """One request's latency, in seconds."""
        if self.sigma == 0:
            return self.median_ms / 1000
        return rng.lognormvariate(math.log(self.median_ms), self.sigma) / 1000
