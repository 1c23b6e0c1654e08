"""``feast-chalk-dynamo capacity``: the read and write units a workload needs, and what a month costs."""

from __future__ import annotations

import argparse
import sys

from feast_chalk_dynamo.cli.sizing import Sizing, add_sizing_arguments, size, tfvars
from feast_chalk_dynamo.migrate.report import grid
from feast_chalk_dynamo.planning import capacity, planner
from feast_chalk_dynamo.planning.samples import SampledItem

DESCRIPTION = (
    "Size each entity item of the repo (every view keyed by the same join keys shares one item) by "
    "DynamoDB's rules, from the registry's feature types and, where the table answers, from a sample of "
    "its items; then the read and write units the workload needs (reads per 4 KB of item, each item of a "
    "BatchGetItem on its own, halved when eventually consistent; each view's write per 1 KB of the whole "
    "item, doubled in a transaction) and a month's cost provisioned, autoscaled and on-demand. "
    "Exit status 0, or 2 for a wrong repo or option."
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "capacity", help="plan read and write capacity and its monthly cost", description=DESCRIPTION
    )
    add_sizing_arguments(parser)
    parser.add_argument(
        "--tfvars",
        action="store_true",
        help="print only the matching variables of the Terraform module (a terraform.tfvars for the "
        "module `feast-chalk-dynamo terraform` writes)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    sizing = size(args)
    if args.tfvars:  # the variables alone on stdout, ready for a terraform.tfvars
        for note in sizing.notes:
            print(f"note: {note}", file=sys.stderr)
        sys.stdout.write(tfvars(sizing))
        return 0
    print("\n".join(report(sizing)))
    return 0


def _units(value: float) -> str:
    """Units as a count: whole ones without decimals, a half unit as 0.5."""
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def report(sizing: Sizing) -> list[str]:
    plan, workload, settings = sizing.plan, sizing.plan.workload, sizing.settings
    reading = "strongly consistent" if workload.consistent else "eventually consistent"
    writing = "in transactions (2x)" if workload.transactional else "one UpdateItem per view"
    lines = [
        f"capacity plan: project {sizing.project!r}, table {settings.table_name!r} ({settings.region})",
        f"workload: {workload.qps:,g} queries/s x {workload.entities_per_query:,g} entities = "
        f"{_units(workload.item_reads_per_second)} entity reads/s, {reading}; persist fraction "
        f"{workload.persist_fraction:g} = {_units(workload.entity_writes_per_second)} entities written/s, "
        f"every view, {writing}",
        *(f"sizes: {note}" for note in sizing.notes),
    ]
    for sampled, item_plan in zip(sizing.items, plan.items, strict=True):
        lines += ["", *_item_lines(sampled, item_plan, workload)]
    lines += [
        "",
        f"total: {_units(plan.read_units)} RCU, {_units(plan.write_units)} WCU",
        *_cost_lines(sizing),
    ]
    return lines


def _item_lines(sampled: SampledItem, item_plan: planner.ItemPlan, workload: planner.Workload) -> list[str]:
    item = item_plan.item
    measured = sampled.sampled_sizes
    seen = (
        f"{len(measured):,} sampled: mean {sum(measured) / len(measured):,.0f} B, largest {max(measured):,} B"
        if measured
        else "estimated"
    )
    rows = [
        (
            view.view,
            f"{view.estimated_bytes:,}",
            "-" if view.measured_bytes is None else f"{view.measured_bytes:,.1f}",
            f"{view.measured_items:,}",
            f"{view.bytes:,.0f}",
        )
        for view in item.views
    ]
    rows.append(("key (pk, sk)", "", "", "", f"{item.key_bytes:,.0f}"))
    if item.other_bytes:
        rows.append(("other attributes", "", "", "", f"{item.other_bytes:,.0f}"))
    reads = capacity.read_units(item.size, True)
    per_read = item_plan.read_units_per_item
    halved = "" if workload.consistent else ", halved: eventually consistent"
    per_write = item_plan.write_units_per_view_write
    doubled = ", doubled: transactional" if workload.transactional else ""
    return [
        f"entity item keyed by {', '.join(item.join_keys)}: {item.size:,} B ({seen})",
        *(
            "  " + line
            for line in grid(("view / part", "estimated B", "measured B", "rows sampled", "used B"), rows)
        ),
        f"  reads:  {_units(per_read)} RCU per entity ({reads:g} x 4 KB{halved}) x "
        f"{_units(workload.item_reads_per_second)}/s = {_units(item_plan.read_units)} RCU",
        f"  writes: {_units(per_write)} WCU per view written (the whole {item.size:,}-B item in 1 KB "
        f"units{doubled}) x {_units(workload.entity_writes_per_second)} entities/s:",
        *(
            "    " + line
            for line in grid(
                ("view", "WCU"),
                [(view, _units(units)) for view, units in item_plan.write_units_by_view.items()],
            )
        ),
    ]


def _cost_lines(sizing: Sizing) -> list[str]:
    plan, bounds = sizing.plan, sizing.bounds
    provisioned, autoscaled, on_demand = plan.modes
    rows = [
        (
            "provisioned (at the need)",
            f"{provisioned.read_units:,.0f} RCU",
            f"{provisioned.write_units:,.0f} WCU",
            f"{provisioned.cost:,.2f}",
        ),
        (
            f"autoscaled ({sizing.target_utilization:g} % target)",
            f"{autoscaled.read_units:,.0f} RCU",
            f"{autoscaled.write_units:,.0f} WCU",
            f"{autoscaled.cost:,.2f}",
        ),
        (
            "on-demand",
            f"{on_demand.read_units:,.1f} M RRU",
            f"{on_demand.write_units:,.1f} M WRU",
            f"{on_demand.cost:,.2f}",
        ),
    ]
    return [
        f"monthly cost ({planner.HOURS_PER_MONTH} h; unit prices: us-east-1 as of {planner.PRICES_AS_OF} "
        "unless --price-* says otherwise):",
        *("  " + line for line in grid(("mode", "reads", "writes", "USD / month"), rows)),
        f"terraform: autoscaling reads {bounds.read_min:,} to {bounds.read_max:,} RCU, writes "
        f"{bounds.write_min:,} to {bounds.write_max:,} WCU (--tfvars prints the variables)",
    ]
