"""The namespace cache on its own: TTL by an injected clock, LRU bound, negative caching, write marks."""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.local.cache import NamespaceCache
from feast_chalk_dynamo.local.counters import NamespaceCounters

ATTRS = frozenset({"_ta", "a1", "a2"})


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(
    ttl: float = 60, size: int | None = None, misses: bool = True
) -> tuple[NamespaceCache, FakeClock, NamespaceCounters]:
    clock, counters = FakeClock(), NamespaceCounters()
    return NamespaceCache(ttl, size, misses, counters, timer=clock), clock, counters


def row(value: str) -> dict[str, object]:
    return {"_ta": {"N": "1"}, "a1": {"S": value}}


def read(cache: NamespaceCache, rows: dict[str, object]) -> None:
    """A read that found ``rows`` (None: absent), with nothing written meanwhile."""
    cache.fill(cache.ticket(), ATTRS, rows)  # type: ignore[arg-type]


def test_a_row_is_served_until_its_ttl_then_missed() -> None:
    cache, clock, counters = make(ttl=60)
    read(cache, {"k": row("x")})
    clock.now += 59.9
    assert cache.lookup(["k"], ATTRS) == {"k": row("x")}
    clock.now += 0.2
    assert cache.lookup(["k"], ATTRS) == {}
    assert counters.snapshot()["cache_hits"] == 1
    assert counters.snapshot()["misses"] == 1


def test_absent_rows_are_cached_only_with_negative_caching() -> None:
    with_misses, _, counters = make(misses=True)
    read(with_misses, {"k": None})
    assert with_misses.lookup(["k"], ATTRS) == {"k": None}
    assert counters.snapshot()["negative_hits"] == 1
    without, _, _ = make(misses=False)
    read(without, {"k": None})
    assert without.lookup(["k"], ATTRS) == {}


def test_the_least_recently_used_row_is_evicted_and_counted() -> None:
    cache, _, counters = make(size=2)
    read(cache, {"a": row("a"), "b": row("b")})
    cache.lookup(["a"], ATTRS)  # b is now the least recently used
    read(cache, {"c": row("c")})
    assert set(cache.lookup(["a", "b", "c"], ATTRS)) == {"a", "c"}
    assert counters.snapshot()["evictions"] == 1
    assert len(cache) == 2


def test_expiry_is_not_counted_as_eviction() -> None:
    cache, clock, counters = make(ttl=1, size=2)
    read(cache, {"a": row("a"), "b": row("b")})
    clock.now += 2
    read(cache, {"c": row("c"), "d": row("d")})
    assert counters.snapshot()["evictions"] == 0


def test_a_row_fetched_before_the_view_gained_a_feature_is_a_miss() -> None:
    cache, _, _ = make()
    read(cache, {"k": row("x")})
    assert cache.lookup(["k"], ATTRS | {"a3"}) == {}
    assert cache.lookup(["k"], frozenset({"_ta", "a1"})) == {"k": row("x")}


def test_a_write_drops_the_row() -> None:
    cache, _, _ = make()
    read(cache, {"k": row("old"), "j": row("j")})
    cache.invalidate(["k"])
    assert cache.lookup(["k", "j"], ATTRS) == {"j": row("j")}


def test_a_read_in_flight_during_a_write_does_not_put_back_what_it_read_before() -> None:
    cache, _, _ = make()
    ticket = cache.ticket()  # the read starts, and fetches "old"
    cache.invalidate(["k"])  # a write lands meanwhile
    cache.fill(ticket, ATTRS, {"k": row("old"), "j": row("j")})
    assert cache.lookup(["k", "j"], ATTRS) == {"j": row("j")}
    read(cache, {"k": row("new")})  # a read that started after the write may fill
    assert cache.lookup(["k"], ATTRS) == {"k": row("new")}


def test_a_write_mark_pushed_out_makes_older_reads_fill_nothing() -> None:
    cache, _, _ = make(size=2)
    ticket = cache.ticket()
    cache.invalidate(["k"])
    read(cache, {"x": row("x"), "y": row("y")})  # evicts the mark for k
    cache.fill(ticket, ATTRS, {"k": row("old")})
    assert cache.lookup(["k"], ATTRS) == {}


def test_a_failed_read_releases_its_ticket() -> None:
    cache, _, _ = make()
    cache.done(cache.ticket())
    read(cache, {"k": row("x")})
    cache.invalidate(["k"])  # no read in flight: a plain delete, no mark left behind
    assert len(cache) == 0


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["read", "write", "tick"]), st.sampled_from(["a", "b", "c"]), st.integers(0, 3)
        ),
        max_size=40,
    )
)
def test_a_row_never_outlives_its_write_or_its_ttl(steps: list[tuple[str, str, int]]) -> None:
    """Against a model: a cached row is always the newest value written, or absent."""
    cache, clock, _ = make(ttl=5, size=2)
    stored = {"a": 0, "b": 0, "c": 0}
    for step, key, amount in steps:
        if step == "write":
            stored[key] += 1
            cache.invalidate([key])
        elif step == "read":
            ticket = cache.ticket()
            seen = stored[key]
            if amount == 0:  # a write lands while the read is in flight
                stored[key] += 1
                cache.invalidate([key])
            cache.fill(ticket, ATTRS, {key: {"_ta": {"N": str(seen)}}})
        else:
            clock.now += amount
        for cached_key, values in cache.lookup(stored, ATTRS).items():
            assert values == {"_ta": {"N": str(stored[cached_key])}}


def test_concurrent_reads_and_writes_keep_the_cache_consistent() -> None:
    cache, _, counters = make(size=50)
    errors: list[BaseException] = []

    def hammer(worker: int) -> None:
        try:
            for i in range(2000):
                key = f"k{(i * 7 + worker) % 80}"
                if i % 5 == 0:
                    cache.invalidate([key])
                else:
                    ticket = cache.ticket()
                    cache.lookup([key], ATTRS)
                    cache.fill(ticket, ATTRS, {key: row(key)})
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(cache) <= 50
    snapshot = counters.snapshot()
    assert snapshot["cache_hits"] + snapshot["misses"] == 4 * 2000 * 4 // 5
