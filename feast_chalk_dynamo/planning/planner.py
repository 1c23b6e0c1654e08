"""Capacity and monthly cost of a workload on this store's table, from the sizes of its entity items.

Pure arithmetic on DynamoDB's billing rules (``capacity``), so that a plan
can be checked by hand: the CLI (``feast-chalk-dynamo capacity``) finds the
sizes, this turns them into units and dollars.

The workload: ``qps`` queries a second, each reading ``entities_per_query``
entities of every entity item kind (all the views keyed by the same join
keys share one item); a fraction ``persist_fraction`` of the queries write
their results back, every view of each entity, one UpdateItem per view. So

* item reads per second = qps × entities_per_query, each item rounded to
  4 KB on its own (BatchGetItem bills every item as a GetItem), halved when
  eventually consistent;
* entity writes per second = qps × entities_per_query × persist_fraction,
  each view's write billed per 1 KB on the whole item (an UpdateItem costs
  the larger of the item before and after: with the item full, its whole
  size), doubled in a transaction.

Costs are for a month of 730 hours (AWS's convention): provisioned at
exactly the units needed, autoscaled (provisioned at the units needed over
the target utilization, as the Terraform module (``feast_chalk_dynamo/terraform``) tracks it),
and on-demand (request units, as many as the capacity units consumed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from feast_chalk_dynamo.planning import capacity

HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
# The utilization the Terraform module's autoscaling tracks by default (percent).
DEFAULT_TARGET_UTILIZATION = 70
# Autoscaling bounds: this factor below and above the planned capacity.
DEFAULT_SCALE_FACTOR = 2.0

# Unit prices in USD: us-east-1, Standard table class, the AWS free tier left out. On-demand
# prices are those since AWS halved them on 2024-11-01. See the README, "Planning capacity",
# for where they were read.
PRICES_AS_OF = "2026-11-30"
PRICE_RCU_HOUR = 0.00013
PRICE_WCU_HOUR = 0.00065
PRICE_READ_MILLION = 0.125
PRICE_WRITE_MILLION = 0.625


@dataclass(frozen=True)
class Prices:
    rcu_hour: float = PRICE_RCU_HOUR
    wcu_hour: float = PRICE_WCU_HOUR
    read_request_million: float = PRICE_READ_MILLION
    write_request_million: float = PRICE_WRITE_MILLION


@dataclass(frozen=True)
class Workload:
    qps: float
    entities_per_query: float
    persist_fraction: float
    consistent: bool = False
    transactional: bool = False

    @property
    def item_reads_per_second(self) -> float:
        return self.qps * self.entities_per_query

    @property
    def entity_writes_per_second(self) -> float:
        return self.qps * self.entities_per_query * self.persist_fraction


@dataclass(frozen=True)
class ViewRow:
    """One view's share of an entity item: the bytes its row adds (the timestamp and its features)."""

    view: str
    estimated_bytes: int
    measured_bytes: float | None = None  # the mean over sampled items that hold the view's row
    measured_items: int = 0

    @property
    def bytes(self) -> float:
        """What the plan uses: the measured size when there is one."""
        return self.estimated_bytes if self.measured_bytes is None else self.measured_bytes


@dataclass(frozen=True)
class EntityItem:
    """One kind of entity item: every view keyed by ``join_keys``, on one item per entity.

    ``key_bytes`` are the pk and sk attributes; ``other_bytes`` what else an
    item carries (the expiry attribute, rows of retired versions).
    """

    join_keys: tuple[str, ...]
    views: Sequence[ViewRow]
    key_bytes: float
    other_bytes: float = 0

    @property
    def size(self) -> int:
        """The item's bytes, rounded up: a fraction of a byte (of a mean) still counts toward a unit."""
        return math.ceil(self.key_bytes + self.other_bytes + sum(view.bytes for view in self.views))


@dataclass(frozen=True)
class ItemPlan:
    item: EntityItem
    read_units_per_item: float  # one entity read
    write_units_per_view_write: float  # one view written to one entity: the whole item's units
    read_units: float  # per second
    write_units_by_view: dict[str, float]  # per second

    @property
    def write_units(self) -> float:
        return sum(self.write_units_by_view.values())


def plan_item(item: EntityItem, workload: Workload) -> ItemPlan:
    per_read = capacity.read_units(item.size, workload.consistent)
    per_write = capacity.write_units(item.size) * (2 if workload.transactional else 1)
    writes = workload.entity_writes_per_second
    return ItemPlan(
        item=item,
        read_units_per_item=per_read,
        write_units_per_view_write=per_write,
        read_units=workload.item_reads_per_second * per_read,
        write_units_by_view={view.view: writes * per_write for view in item.views},
    )


@dataclass(frozen=True)
class Mode:
    """One capacity mode's monthly bill: provisioned units (or, on-demand, request units) and dollars."""

    name: str
    read_units: float  # provisioned RCU; on-demand: million read request units a month
    write_units: float
    read_cost: float
    write_cost: float

    @property
    def cost(self) -> float:
        return self.read_cost + self.write_cost


@dataclass(frozen=True)
class Plan:
    items: list[ItemPlan]
    workload: Workload
    modes: list[Mode]  # provisioned, autoscaled, on-demand
    provisioned_read: int  # the autoscaled capacities: needed units over the target utilization
    provisioned_write: int

    @property
    def read_units(self) -> float:
        return sum(item.read_units for item in self.items)

    @property
    def write_units(self) -> float:
        return sum(item.write_units for item in self.items)


def provisioned(units: float) -> int:
    """Whole capacity units covering ``units``; a provisioned table has at least 1 of each.

    Rounded to a millionth first: the products and quotients of decimal inputs carry binary noise
    (21 / 0.7 is 30.000000000000004), which must not cost a whole unit.
    """
    return max(1, math.ceil(round(units, 6)))


def make_plan(
    items: Sequence[EntityItem],
    workload: Workload,
    prices: Prices = Prices(),
    target_utilization: float = DEFAULT_TARGET_UTILIZATION,
) -> Plan:
    plans = [plan_item(item, workload) for item in items]
    reads = sum(plan.read_units for plan in plans)
    writes = sum(plan.write_units for plan in plans)
    needed_read, needed_write = provisioned(reads), provisioned(writes)
    scaled_read = provisioned(reads * 100 / target_utilization)
    scaled_write = provisioned(writes * 100 / target_utilization)
    read_millions, write_millions = reads * SECONDS_PER_MONTH / 1e6, writes * SECONDS_PER_MONTH / 1e6

    def hourly(name: str, read: int, write: int) -> Mode:
        return Mode(
            name,
            read,
            write,
            read * prices.rcu_hour * HOURS_PER_MONTH,
            write * prices.wcu_hour * HOURS_PER_MONTH,
        )

    modes = [
        hourly("provisioned", needed_read, needed_write),
        hourly("autoscaled", scaled_read, scaled_write),
        Mode(
            "on-demand",
            read_millions,
            write_millions,
            read_millions * prices.read_request_million,
            write_millions * prices.write_request_million,
        ),
    ]
    return Plan(plans, workload, modes, scaled_read, scaled_write)


@dataclass(frozen=True)
class Bounds:
    read_min: int
    read_max: int
    write_min: int
    write_max: int


def autoscaling_bounds(plan: Plan, factor: float = DEFAULT_SCALE_FACTOR) -> Bounds:
    """Autoscaling's floor and ceiling: ``factor`` below and above the planned (autoscaled) capacity."""

    def around(planned: int) -> tuple[int, int]:
        low = provisioned(planned / factor)
        return low, max(low, provisioned(planned * factor))

    read_min, read_max = around(plan.provisioned_read)
    write_min, write_max = around(plan.provisioned_write)
    return Bounds(read_min, read_max, write_min, write_max)
