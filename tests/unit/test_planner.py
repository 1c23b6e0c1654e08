"""The capacity planner against examples worked by hand from DynamoDB's billing rules.

Rules (AWS, "Read/write capacity mode" and the pricing pages): a read is
billed per started 4 KB of the whole item, at least one unit, half a unit
when eventually consistent, and BatchGetItem bills each item on its own; a
write per started 1 KB of the whole item (an UpdateItem: the larger of the
item before and after), twice in a transaction. A month is 730 hours.
"""

from __future__ import annotations

import pytest

from feast_chalk_dynamo.planning.planner import (
    EntityItem,
    Prices,
    ViewRow,
    Workload,
    autoscaling_bounds,
    make_plan,
    plan_item,
)


def item(size: int, views: int = 1) -> EntityItem:
    """An item of ``size`` bytes: a 20-byte key, ``views - 1`` rows of 10 bytes, the first row the rest."""
    rest = [ViewRow(f"v{n}", 10) for n in range(1, views)]
    return EntityItem(("driver_id",), [ViewRow("v0", size - 20 - 10 * len(rest)), *rest], key_bytes=20)


def test_item_size_sums_key_views_and_other_and_rounds_a_mean_up() -> None:
    """23 B of key + 25.0 + 153.5 B of rows (measured means) + 2.25 B other = 203.75 B -> 204 B."""
    rows = [ViewRow("stats", 27, measured_bytes=25.0, measured_items=50), ViewRow("profile", 802, 153.5, 50)]
    assert EntityItem(("driver_id",), rows, key_bytes=23, other_bytes=2.25).size == 204


def test_a_measured_row_is_used_over_the_estimate_and_an_estimate_where_nothing_was_measured() -> None:
    assert ViewRow("v", 802, measured_bytes=153.5, measured_items=50).bytes == 153.5
    assert ViewRow("v", 802).bytes == 802


@pytest.mark.parametrize(
    ("size", "consistent", "units"),
    [
        (1, False, 0.5),  # the minimum: 1 unit of 4 KB, halved
        (4096, False, 0.5),  # exactly 4 KB: still 1 unit
        (4096, True, 1.0),
        (4097, False, 1.0),  # 1 byte over: 2 units, halved
        (4097, True, 2.0),
        (12_000, False, 1.5),  # 12,000 / 4,096 = 2.93 -> 3 units, halved
    ],
)
def test_reads_round_each_item_to_4_kb_and_halve_when_eventually_consistent(
    size: int, consistent: bool, units: float
) -> None:
    plan = plan_item(
        item(size), Workload(qps=1, entities_per_query=1, persist_fraction=0, consistent=consistent)
    )
    assert plan.read_units_per_item == units
    assert plan.read_units == units


def test_a_batch_rounds_every_item_on_its_own() -> None:
    """100 entities of 1,000 B in one BatchGetItem, eventually consistent: each item is 1 unit of
    4 KB, halved: 0.5 x 100 = 50 RCU. (Pooled, 100,000 B would be 25 units, 12.5 RCU: not how
    DynamoDB bills.) At 20 queries/s: 1,000 RCU."""
    plan = plan_item(item(1000), Workload(qps=20, entities_per_query=100, persist_fraction=0))
    assert plan.read_units == 1000


def test_each_views_write_is_charged_on_the_whole_item_and_doubled_in_a_transaction() -> None:
    """An item of 1,025 B (3 views): every view's UpdateItem is billed on the whole item, 1,025 B
    in 1 KB units = 2 WCU, though the view's own row is smaller. 10 queries/s x 5 entities x a
    persist fraction of 0.2 = 10 entities written/s, each writing 3 views: 10 x 2 = 20 WCU per
    view, 60 in all; in transactions 4 per view write, 40 per view, 120 in all."""
    plain = plan_item(item(1025, views=3), Workload(qps=10, entities_per_query=5, persist_fraction=0.2))
    assert plain.write_units_per_view_write == 2
    assert plain.write_units_by_view == {"v0": 20, "v1": 20, "v2": 20}
    assert plain.write_units == 60
    transactional = plan_item(
        item(1025, views=3), Workload(qps=10, entities_per_query=5, persist_fraction=0.2, transactional=True)
    )
    assert transactional.write_units_per_view_write == 4
    assert transactional.write_units == 120


@pytest.mark.parametrize(("size", "units"), [(1, 1), (1024, 1), (1025, 2), (3000, 3)])
def test_writes_round_to_1_kb(size: int, units: int) -> None:
    plan = plan_item(item(size), Workload(qps=1, entities_per_query=1, persist_fraction=1))
    assert plan.write_units_per_view_write == units


def test_monthly_costs_of_the_three_modes() -> None:
    """2,000 queries/s x 10 entities of a 202 B item with 2 views, eventually consistent; persist
    fraction 0.1. Reads: 20,000 items/s x 0.5 = 10,000 RCU. Writes: 2,000 entities/s x 2 views x
    1 WCU = 4,000 WCU. At $0.00013 per RCU-hour, $0.00065 per WCU-hour, 730 h:

    * provisioned at the need: 10,000 x 0.00013 x 730 = 949.00; 4,000 x 0.00065 x 730 = 1,898.00;
      2,847.00 a month;
    * autoscaled at 70 %: ceil(10,000 / 0.7) = 14,286 RCU x 0.00013 x 730 = 1,355.7414;
      ceil(4,000 / 0.7) = 5,715 WCU x 0.00065 x 730 = 2,711.7675; 4,067.5089;
    * on-demand: 10,000 x 2,628,000 s = 26,280 million read units x $0.125 = 3,285.00;
      4,000 x 2,628,000 = 10,512 million write units x $0.625 = 6,570.00; 9,855.00.
    """
    workload = Workload(qps=2000, entities_per_query=10, persist_fraction=0.1)
    plan = make_plan([item(202, views=2)], workload, Prices())
    assert plan.read_units == 10_000
    assert plan.write_units == 4_000
    provisioned, autoscaled, on_demand = plan.modes
    assert (provisioned.read_units, provisioned.write_units) == (10_000, 4_000)
    assert provisioned.read_cost == pytest.approx(949.00)
    assert provisioned.write_cost == pytest.approx(1898.00)
    assert provisioned.cost == pytest.approx(2847.00)
    assert (autoscaled.read_units, autoscaled.write_units) == (14_286, 5_715)
    assert (plan.provisioned_read, plan.provisioned_write) == (14_286, 5_715)
    assert autoscaled.cost == pytest.approx(4067.5089)
    assert (on_demand.read_units, on_demand.write_units) == pytest.approx((26_280, 10_512))
    assert on_demand.read_cost == pytest.approx(3285.00)
    assert on_demand.write_cost == pytest.approx(6570.00)
    assert on_demand.cost == pytest.approx(9855.00)


def test_consistent_transactional_costs_and_other_prices() -> None:
    """One 5,000 B item, 1 view, 100 queries/s x 1 entity, every query persisted, strongly
    consistent and transactional: reads 100 x 2 units (5,000 B: 2 x 4 KB) = 200 RCU; writes
    100 x 5 x 2 = 1,000 WCU. At $0.001 per unit-hour both ways: 200 x 0.001 x 730 = 146.00 and
    1,000 x 0.001 x 730 = 730.00. Autoscaled at 50 %: 400 and 2,000 units, 292.00 + 1,460.00.
    On-demand at $1 per million both ways: 200 x 2.628 = 525.6 and 1,000 x 2.628 = 2,628.00."""
    workload = Workload(
        qps=100, entities_per_query=1, persist_fraction=1, consistent=True, transactional=True
    )
    prices = Prices(rcu_hour=0.001, wcu_hour=0.001, read_request_million=1, write_request_million=1)
    provisioned, autoscaled, on_demand = make_plan(
        [item(5000)], workload, prices, target_utilization=50
    ).modes
    assert (provisioned.read_cost, provisioned.write_cost) == pytest.approx((146.00, 730.00))
    assert (autoscaled.read_units, autoscaled.write_units) == (400, 2000)
    assert (autoscaled.read_cost, autoscaled.write_cost) == pytest.approx((292.00, 1460.00))
    assert (on_demand.read_cost, on_demand.write_cost) == pytest.approx((525.6, 2628.00))


def test_item_kinds_add_up_and_a_provisioned_table_has_at_least_one_unit() -> None:
    """Two kinds of items, 1 query/s x 1 entity of each: 0.5 + 0.5 = 1 RCU; nothing persisted: 0 WCU,
    but a provisioned table still takes 1 WCU (1 x 0.00065 x 730 = 0.4745 a month)."""
    plan = make_plan([item(100), item(200)], Workload(qps=1, entities_per_query=1, persist_fraction=0))
    assert plan.read_units == 1
    assert plan.write_units == 0
    provisioned = plan.modes[0]
    assert (provisioned.read_units, provisioned.write_units) == (1, 1)
    assert provisioned.write_cost == pytest.approx(0.4745)
    assert plan.modes[2].write_cost == 0


def test_autoscaling_bounds_sit_a_factor_below_and_above_the_plan() -> None:
    """Planned 14,286 RCU and 5,715 WCU, factor 2: reads 7,143 to 28,572; writes ceil(2,857.5) =
    2,858 to 11,430. Factor 1 pins both at the plan."""
    plan = make_plan([item(202, views=2)], Workload(qps=2000, entities_per_query=10, persist_fraction=0.1))
    bounds = autoscaling_bounds(plan, 2)
    assert (bounds.read_min, bounds.read_max) == (7_143, 28_572)
    assert (bounds.write_min, bounds.write_max) == (2_858, 11_430)
    pinned = autoscaling_bounds(plan, 1)
    assert (pinned.read_min, pinned.read_max, pinned.write_min, pinned.write_max) == (
        14_286,
        14_286,
        5_715,
        5_715,
    )


def test_decimal_inputs_cost_no_unit_for_binary_noise() -> None:
    """3 queries/s x 10 entities x 0.1 persisted = 3 entities written/s (in binary floating point
    3.0000000000000004): 3 WCU, not 4. 42 entities/s x 0.5 RCU = 21 RCU needed, at 70 % exactly
    30 provisioned (21 / 0.7 is 30.000000000000004 in floating point): not 31."""
    plan = make_plan([item(100)], Workload(qps=3, entities_per_query=10, persist_fraction=0.1))
    assert plan.modes[0].write_units == 3
    plan = make_plan([item(100)], Workload(qps=42, entities_per_query=1, persist_fraction=0))
    assert plan.read_units == 21
    assert plan.provisioned_read == 30
