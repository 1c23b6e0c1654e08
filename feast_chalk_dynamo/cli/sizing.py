"""What ``capacity`` and ``terraform`` share: the workload's options, the items' sizes, the plan.

Sizes come from the registry (``planning.estimates``) and, where the table
answers, from a sample of its items (``planning.samples``): a plan is most
often made before the table exists (to provision it), so a table that is
missing or does not answer is a note, not an error; ``--sample 0`` leaves
the table alone.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from feast import FeatureStore

from feast_chalk_dynamo.aggregates.spec import is_windowed
from feast_chalk_dynamo.cli.shared import (
    CliError,
    add_repo_argument,
    check_table,
    online_views,
    table_client,
    talking_to,
)
from feast_chalk_dynamo.items.names import NameRegistry, project_name
from feast_chalk_dynamo.planning import planner
from feast_chalk_dynamo.planning.estimates import (
    DEFAULT_LIST_ITEMS,
    DEFAULT_STRING_BYTES,
    Assumptions,
    ItemShape,
    estimate_items,
)
from feast_chalk_dynamo.planning.item_sizes import Ids
from feast_chalk_dynamo.planning.samples import (
    DEFAULT_SAMPLE,
    SampledItem,
    measure,
    sample_items,
    scan_budget,
)
from feast_chalk_dynamo.repos import load_store
from feast_chalk_dynamo.store import ChalkDynamoOnlineStoreConfig

PERSIST_HELP = (
    "the fraction of queries whose results are written back: writes/s = qps x entities-per-query x F "
    "entities, each writing every view of its item (one UpdateItem per view, charged on the whole item)"
)


def _number(low: float, high: float | None = None, integer: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: takes {bound}")
        return value

    return parse


def add_sizing_arguments(parser: argparse.ArgumentParser) -> None:
    add_repo_argument(parser)
    workload = parser.add_argument_group("workload")
    workload.add_argument("--qps", type=_number(0), required=True, help="queries per second")
    workload.add_argument(
        "--entities-per-query",
        type=_number(0),
        required=True,
        metavar="N",
        help="entities each query reads, of every kind of entity item (views keyed alike share an item)",
    )
    workload.add_argument(
        "--persist-fraction", type=_number(0, 1), required=True, metavar="F", help=PERSIST_HELP
    )
    workload.add_argument(
        "--consistent",
        action=argparse.BooleanOptionalAction,
        help="strongly consistent reads, twice the read units (default: the yaml's consistent_reads)",
    )
    workload.add_argument(
        "--transactional",
        action="store_true",
        help="writes in TransactWriteItems, twice the write units: bulk writes (materialization) with "
        "check_ts_for_bulk_writes on, the default; off: one UpdateItem per row, as pushes are written",
    )
    sizes = parser.add_argument_group("item sizes")
    sizes.add_argument(
        "--sample",
        type=_number(0, integer=True),
        default=DEFAULT_SAMPLE,
        metavar="N",
        help=f"measure up to N stored entity items of the project by a bounded Scan, where the table "
        f"answers (default {DEFAULT_SAMPLE}; 0: estimates only, the table is not read)",
    )
    sizes.add_argument(
        "--string-bytes",
        type=_number(1, integer=True),
        default=DEFAULT_STRING_BYTES,
        metavar="B",
        help=f"estimates: bytes of a string or bytes value, and of a map's string values (default "
        f"{DEFAULT_STRING_BYTES})",
    )
    sizes.add_argument(
        "--list-items",
        type=_number(0, integer=True),
        default=DEFAULT_LIST_ITEMS,
        metavar="N",
        help=f"estimates: elements of a list or set, entries of a map or JSON object (default "
        f"{DEFAULT_LIST_ITEMS})",
    )
    costs = parser.add_argument_group(
        f"unit prices (USD, us-east-1, as of {planner.PRICES_AS_OF}) and autoscaling"
    )
    for option, default, what in (
        ("--price-rcu-hour", planner.PRICE_RCU_HOUR, "a provisioned read capacity unit for an hour"),
        ("--price-wcu-hour", planner.PRICE_WCU_HOUR, "a provisioned write capacity unit for an hour"),
        ("--price-read-million", planner.PRICE_READ_MILLION, "a million on-demand read request units"),
        ("--price-write-million", planner.PRICE_WRITE_MILLION, "a million on-demand write request units"),
    ):
        costs.add_argument(
            option, type=_number(0), default=default, metavar="USD", help=f"{what} (default {default})"
        )
    costs.add_argument(
        "--target-utilization",
        type=_number(20, 90),
        default=planner.DEFAULT_TARGET_UTILIZATION,
        metavar="PERCENT",
        help="autoscaling's target: provisioned = needed / target (default "
        f"{planner.DEFAULT_TARGET_UTILIZATION}, as the Terraform module's)",
    )
    costs.add_argument(
        "--scale-factor",
        type=_number(1),
        default=planner.DEFAULT_SCALE_FACTOR,
        metavar="X",
        help=f"Terraform's autoscaling bounds: the planned capacity / X to x X (default "
        f"{planner.DEFAULT_SCALE_FACTOR:g})",
    )


@dataclass(frozen=True)
class Sizing:
    project: str
    settings: ChalkDynamoOnlineStoreConfig
    items: list[SampledItem]
    plan: planner.Plan
    bounds: planner.Bounds
    target_utilization: float
    notes: list[str]


def size(args: argparse.Namespace) -> Sizing:
    store, settings = load_store(args.repo.resolve())
    assumptions = Assumptions(string_bytes=args.string_bytes, list_items=args.list_items)
    items, notes = _items(store, settings, assumptions, args.sample)
    if not items:
        raise CliError(f"the project {store.project!r} has no online feature views: run `feast apply` first")
    workload = planner.Workload(
        qps=args.qps,
        entities_per_query=args.entities_per_query,
        persist_fraction=args.persist_fraction,
        consistent=settings.consistent_reads if args.consistent is None else args.consistent,
        transactional=args.transactional,
    )
    prices = planner.Prices(
        args.price_rcu_hour, args.price_wcu_hour, args.price_read_million, args.price_write_million
    )
    plan = planner.make_plan([item.item for item in items], workload, prices, args.target_utilization)
    bounds = planner.autoscaling_bounds(plan, args.scale_factor)
    return Sizing(store.project, settings, items, plan, bounds, args.target_utilization, notes)


def _unallocated(name: str) -> str | None:
    return None


def _items(
    store: FeatureStore, settings: ChalkDynamoOnlineStoreConfig, assumptions: Assumptions, sample: int
) -> tuple[list[SampledItem], list[str]]:
    """Each kind of entity item, measured where the table holds some; and what the reader should know.

    A windowed view's data is not on the entity item (its buckets are pages
    of their own, costed per window read and per event): it is left out,
    and said so, rather than planned as the row it is not.
    """
    versioning = store.config.registry.enable_online_feature_view_versioning
    views = online_views(store)
    rows = [view for view in views if not is_windowed(view)]
    items, notes = _row_items(store, settings, assumptions, sample, rows, versioning)
    windowed = [view.name for view in views if is_windowed(view)]
    if windowed:
        notes.append(
            f"windowed views left out ({', '.join(windowed)}): their buckets are items of their own, read "
            "per window and written per event, which this plan does not model; README, 'Windowed "
            "aggregations', gives their sizes and units"
        )
    return items, notes


def _row_items(
    store: FeatureStore,
    settings: ChalkDynamoOnlineStoreConfig,
    assumptions: Assumptions,
    sample: int,
    views: list[Any],
    versioning: bool,
) -> tuple[list[SampledItem], list[str]]:
    """The items of ``views``, measured where the table holds some; and what the reader should know."""

    def estimate(ids: Ids) -> list[ItemShape]:
        return estimate_items(store.project, views, versioning, ids, assumptions, settings.chalk_style_expiry)

    if sample == 0:
        return measure(estimate(Ids(_unallocated)), []), [
            "--sample 0: sizes are estimates, the table was not read"
        ]
    client = table_client(settings)
    try:
        with talking_to(settings):
            check_table(client, settings)
            names = NameRegistry(client, settings.table_name)
            names.ensure_fresh()  # the whole mapping in one Query: the ids feast apply allocated
            shapes = estimate(Ids(names.lookup))
            project_id = names.lookup(project_name(store.project))
            found = sample_items(client, settings.table_name, project_id, sample) if project_id else []
    except CliError as error:
        return measure(estimate(Ids(_unallocated)), []), [f"{error}; sizes are estimates from the registry"]
    finally:
        client.close()
    note = (
        f"sampled {len(found):,} stored entity items of the project (a Scan of at most "
        f"{scan_budget(sample):,} items)"
        if found
        else f"table {settings.table_name!r} holds no entity item of the project yet: sizes are estimates"
    )
    return measure(shapes, found), [note]


def tfvars(sizing: Sizing) -> str:
    """The Terraform module's variables (``feast_chalk_dynamo/terraform``) for this plan: a provisioned
    table autoscaled between the bounds, at the plan's target utilization."""
    plan, bounds, workload = sizing.plan, sizing.bounds, sizing.plan.workload
    values: list[tuple[str, str | int | float]] = [
        ("region", sizing.settings.region),
        ("table_name", sizing.settings.table_name),
        ("billing_mode", "PROVISIONED"),
        ("read_min_capacity", bounds.read_min),
        ("read_max_capacity", bounds.read_max),
        ("write_min_capacity", bounds.write_min),
        ("write_max_capacity", bounds.write_max),
        ("autoscaling_target_utilization", sizing.target_utilization),
    ]
    width = max(len(name) for name, _ in values)
    return (
        "\n".join(
            [
                f"# feast-chalk-dynamo capacity plan for project {sizing.project}: {workload.qps:g} "
                f"queries/s x {workload.entities_per_query:g} entities, persist fraction "
                f"{workload.persist_fraction:g};",
                f"# planned {plan.provisioned_read:,} RCU and {plan.provisioned_write:,} WCU at "
                f"{sizing.target_utilization:g} % utilization, autoscaled between the bounds below.",
                *(f"{name.ljust(width)} = {_hcl(value)}" for name, value in values),
            ]
        )
        + "\n"
    )


def _hcl(value: str | int | float) -> str:
    """An HCL literal: strings quoted (JSON's escapes are HCL's), numbers as they are."""
    if isinstance(value, str):
        return json.dumps(value)
    return f"{value:g}" if isinstance(value, float) else str(value)
