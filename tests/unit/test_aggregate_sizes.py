"""The README's sizes and units of issue 19's windowed view are what ``benchmarks.aggregate_sizes`` prints.

Pure: the pages are built and sized by the store's own code, with no
endpoint, so the figures hold exactly until the layout changes; then this
fails until the README quotes the new ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import aggregate_sizes
from feast_chalk_dynamo.aggregates.partials import SKETCH_MAX_BYTES
from feast_chalk_dynamo.aggregates.spec import max_page_bytes, windowed_view

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_quotes_what_the_script_prints(capsys: pytest.CaptureFixture[str]) -> None:
    aggregate_sizes.main()
    printed = capsys.readouterr().out
    assert f"```\n{printed}```\n" in README.read_text(), printed


def test_the_largest_page_is_the_arithmetic_the_readme_shows() -> None:
    spec = windowed_view(aggregate_sizes.view(), SKETCH_MAX_BYTES)
    assert (spec.longest_buckets, spec.page_buckets, len(spec.parts)) == (168, 21, 4)
    assert max_page_bytes(spec, SKETCH_MAX_BYTES) == 2_176 + 21 * (4 * 12 + 3 * 21 + 1_128) == 28_195
