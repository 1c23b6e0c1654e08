"""Scanning Feast's tables: page by page within each segment, segments in parallel, resumable.

A page carries the key the next one starts from, so the caller can record
where a segment stands once the page is handled. Segments run on their own
threads; the caller's ``handle`` decides whether the segment goes on, and
its ``finish`` ends what it still holds of a segment (pages it is writing).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from feast_chalk_dynamo.migrate.feast_items import ENTITY_ID, feast_entity_id

Key = dict[str, Any]
SAMPLE_SEGMENTS = 8


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    # Where the segment resumes after this page; None when the segment is finished.
    next_key: Key | None


def pages(
    client: Any, table: str, segment: int, total_segments: int, start_key: Key | None, limit: int | None,
    projection: str | None = None,
) -> Iterator[Page]:  # fmt: skip
    """The pages of one Scan segment from ``start_key`` (None: its start)."""
    request: dict[str, Any] = {"TableName": table, "Segment": segment, "TotalSegments": total_segments}
    if limit:
        request["Limit"] = limit
    if projection:
        request["ProjectionExpression"] = projection
    key = start_key
    while True:
        response = client.scan(**request, **({"ExclusiveStartKey": key} if key else {}))
        key = response.get("LastEvaluatedKey")
        yield Page(response.get("Items", []), key)
        if key is None:
            return


# Called per page with the segment number; False stops that segment.
PageHandler = Callable[[int, Page], bool]
# Called with the segment number once its scan has ended: finished, stopped or failed.
SegmentEnd = Callable[[int], None]


def scan_segments(
    client: Any,
    table: str,
    total_segments: int,
    starts: Mapping[int, Key | None],
    limit: int | None,
    handle: PageHandler,
    stop: threading.Event,
    finish: SegmentEnd | None = None,
) -> dict[int, BaseException]:
    """Scan the segments in ``starts`` (number -> start key) in parallel; the errors that stopped any.

    ``stop`` is looked at before each page is fetched, so setting it (on
    Ctrl-C) lets every segment finish the pages in hand and no more.
    """
    errors: dict[int, BaseException] = {}

    def run(segment: int) -> None:
        try:
            for page in pages(client, table, segment, total_segments, starts[segment], limit):
                if not handle(segment, page) or stop.is_set():
                    return
        except Exception as error:
            errors[segment] = error
        finally:
            if finish is not None:
                finish(segment)

    if not starts:
        return errors
    with ThreadPoolExecutor(len(starts), thread_name_prefix="migrate-scan") as pool:
        futures = [pool.submit(run, segment) for segment in starts]
        try:
            wait(futures)
        except BaseException:  # Ctrl-C in the main thread: let each segment finish its page
            stop.set()
            raise
    return errors


def sample_entity_ids(client: Any, table: str, item_count: int, wanted: int, rng: random.Random) -> list[str]:
    """About ``wanted`` entity ids from a random part of the table, without scanning all of it.

    A parallel Scan's segments split the table by hash, so one random segment
    of ``item_count / wanted`` holds a random ``wanted`` or so; up to
    ``SAMPLE_SEGMENTS`` distinct segments are drawn until enough ids are found
    (DynamoDB's item count is updated every few hours, so a segment may hold
    fewer).
    """
    total = max(1, item_count // max(1, wanted))
    found: dict[str, None] = {}
    for segment in rng.sample(range(total), min(total, SAMPLE_SEGMENTS)):
        for page in pages(client, table, segment, total, None, wanted, projection=ENTITY_ID):
            found.update(dict.fromkeys(feast_entity_id(item) for item in page.items))
            if len(found) >= wanted:
                return list(found)[:wanted]
    return list(found)
