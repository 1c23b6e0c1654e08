"""The namespace cache on its own: TTL by an injected clock, LRU bound, negative caching, write marks."""

from __future__ import annotations

import operator
import threading

from hypothesis import given
from hypothesis import strategies as st

from feast_chalk_dynamo.local.cache import Covers, NamespaceCache

SHAPE = ("_ta", "_va", ("a1", "a2"))  # what the rows were decoded as


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(
    ttl: float = 60, size: int | None = None, misses: bool = True, covers: Covers = operator.eq
) -> tuple[NamespaceCache, FakeClock]:
    clock = FakeClock()
    return NamespaceCache(ttl, size, misses, covers, timer=clock), clock


def row(value: str) -> tuple[int, list[str]]:
    return 1, [value, value]


def read(cache: NamespaceCache, rows: dict[str, object], shape: object = SHAPE) -> int:
    """A read that found ``rows`` (None: absent), with nothing written meanwhile: what it evicted."""
    return cache.fill(cache.ticket(), shape, rows)


def test_a_row_is_served_until_its_ttl_then_missed() -> None:
    cache, clock = make(ttl=60)
    read(cache, {"k": row("x")})
    clock.now += 59.9
    assert cache.lookup(["k"], SHAPE) == {"k": row("x")}
    clock.now += 0.2
    assert cache.lookup(["k"], SHAPE) == {}
    assert len(cache) == 0


def test_a_hit_is_the_very_row_that_was_filled() -> None:
    """A cached row is handed out as it is, not copied: nothing is decoded or converted again."""
    cache, _ = make()
    filled = row("x")
    read(cache, {"k": filled})
    assert cache.lookup(["k"], SHAPE)["k"] is filled


def test_absent_rows_are_cached_only_with_negative_caching() -> None:
    with_misses, _ = make(misses=True)
    read(with_misses, {"k": None})
    assert with_misses.lookup(["k"], SHAPE) == {"k": None}
    without, _ = make(misses=False)
    read(without, {"k": None})
    assert without.lookup(["k"], SHAPE) == {}


def test_the_least_recently_used_row_is_evicted_and_counted() -> None:
    cache, _ = make(size=2)
    assert read(cache, {"a": row("a"), "b": row("b")}) == 0
    cache.lookup(["a"], SHAPE)  # b is now the least recently used
    assert read(cache, {"c": row("c")}) == 1
    assert set(cache.lookup(["a", "b", "c"], SHAPE)) == {"a", "c"}
    assert len(cache) == 2


def test_a_refilled_row_is_the_most_recently_used_and_lives_its_ttl_from_then() -> None:
    cache, clock = make(ttl=10, size=2)
    read(cache, {"a": row("a"), "b": row("b")})
    clock.now += 5
    read(cache, {"a": row("a2")})  # a again: b is now the least recently used, and a lives to 15
    read(cache, {"c": row("c")})
    assert cache.lookup(["a", "b", "c"], SHAPE) == {"a": row("a2"), "c": row("c")}
    clock.now += 9  # 14: a filled at 5 still lives
    assert cache.lookup(["a"], SHAPE) == {"a": row("a2")}


def test_expiry_is_not_counted_as_eviction() -> None:
    cache, clock = make(ttl=1, size=2)
    read(cache, {"a": row("a"), "b": row("b")})
    clock.now += 2
    assert read(cache, {"c": row("c"), "d": row("d")}) == 0


def test_a_row_of_another_shape_is_a_miss() -> None:
    """A row decoded before the view gained a feature (or after it lost one) answers no read."""
    cache, _ = make()
    read(cache, {"k": row("x")})
    gained = ("_ta", "_va", ("a1", "a2", "a3"))
    assert cache.lookup(["k"], gained) == {}
    assert cache.lookup(["k"], ("_ta", "_va", ("a1",))) == {}
    assert cache.lookup(["k"], ("_ta", "_va", ("a1", "a2"))) == {"k": row("x")}  # equal, not the same
    read(cache, {"k": row("y")}, gained)  # the read that missed fills it anew
    assert cache.lookup(["k"], gained) == {"k": row("y")}
    assert cache.lookup(["k"], SHAPE) == {}


def test_pages_serve_any_window_within_those_held() -> None:
    cache, _ = make(covers=operator.ge)
    read(cache, {"k": {"p1": 1, "p2": 2}}, frozenset({"p1", "p2"}))
    assert cache.lookup(["k"], frozenset({"p2"})) == {"k": {"p1": 1, "p2": 2}}
    assert cache.lookup(["k"], frozenset({"p2", "p3"})) == {}


def test_a_write_drops_the_row() -> None:
    cache, _ = make()
    read(cache, {"k": row("old"), "j": row("j")})
    cache.invalidate(["k"])
    assert cache.lookup(["k", "j"], SHAPE) == {"j": row("j")}


def test_a_read_in_flight_during_a_write_does_not_put_back_what_it_read_before() -> None:
    cache, _ = make()
    ticket = cache.ticket()  # the read starts, and fetches "old"
    cache.invalidate(["k"])  # a write lands meanwhile
    cache.fill(ticket, SHAPE, {"k": row("old"), "j": row("j")})
    assert cache.lookup(["k", "j"], SHAPE) == {"j": row("j")}
    read(cache, {"k": row("new")})  # a read that started after the write may fill
    assert cache.lookup(["k"], SHAPE) == {"k": row("new")}


def test_a_write_mark_pushed_out_makes_older_reads_fill_nothing() -> None:
    cache, _ = make(size=2)
    ticket = cache.ticket()
    cache.invalidate(["k"])
    read(cache, {"x": row("x"), "y": row("y")})  # evicts the mark for k
    cache.fill(ticket, SHAPE, {"k": row("old")})
    assert cache.lookup(["k"], SHAPE) == {}


def test_a_write_mark_that_expires_makes_older_reads_fill_nothing() -> None:
    cache, clock = make(ttl=5)
    ticket = cache.ticket()
    cache.invalidate(["k"])
    clock.now += 6
    read(cache, {"x": row("x")})  # the mark for k expires here
    cache.fill(ticket, SHAPE, {"k": row("old")})
    assert cache.lookup(["k"], SHAPE) == {}


def test_write_marks_pushing_rows_out_are_counted_as_evictions() -> None:
    cache, _ = make(size=2)
    read(cache, {"a": row("a"), "b": row("b")})
    ticket = cache.ticket()
    assert cache.invalidate(["c"]) == 1  # a mark for c (a read is in flight) pushes a out
    cache.done(ticket)


def test_a_failed_read_releases_its_ticket() -> None:
    cache, _ = make()
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
    """Against a model: a cached row is always the newest value written, filled within its ttl."""
    cache, clock = make(ttl=5, size=2)
    stored = {"a": 0, "b": 0, "c": 0}
    filled_at: dict[str, float] = {}
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
            cache.fill(ticket, SHAPE, {key: (seen, [])})
            filled_at[key] = clock.now
        else:
            clock.now += amount
        for cached_key, values in cache.lookup(stored, SHAPE).items():
            assert values == (stored[cached_key], [])
            assert clock.now < filled_at[cached_key] + 5


def test_concurrent_reads_and_writes_keep_the_cache_consistent() -> None:
    cache, _ = make(size=50)
    errors: list[BaseException] = []

    def hammer(worker: int) -> None:
        try:
            for i in range(2000):
                key = f"k{(i * 7 + worker) % 80}"
                if i % 5 == 0:
                    cache.invalidate([key])
                else:
                    ticket = cache.ticket()
                    cache.lookup([key], SHAPE)
                    cache.fill(ticket, SHAPE, {key: row(key)})
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(cache) <= 50
    for key, values in cache.lookup([f"k{n}" for n in range(80)], SHAPE).items():
        assert values == row(key)
