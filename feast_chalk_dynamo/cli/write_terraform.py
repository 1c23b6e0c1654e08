"""``feast-chalk-dynamo terraform``: the example Terraform, sized for a repo's workload, in a directory.

The ``.tf`` files are copied as they are (``feature_repo_example/terraform``,
which its test holds to the code); only ``terraform.tfvars`` is written, with
the repo's table and region and the capacity plan's autoscaling bounds, the
same variables ``capacity --tfvars`` prints.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from feast_chalk_dynamo.cli.shared import CliError, checkout_path
from feast_chalk_dynamo.cli.sizing import add_sizing_arguments, size, tfvars

TERRAFORM = "feature_repo_example/terraform"
TFVARS = "terraform.tfvars"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "terraform",
        help="write the example Terraform for a repo and a workload",
        description=(
            f"Copy the Terraform module of {TERRAFORM} (the table, its autoscaling and IAM policies) into "
            f"--out and write {TFVARS} for it: table_name and region from the repo's yaml, a provisioned "
            "table autoscaled around the capacity `capacity` plans for the workload below. Then: cd DIR && "
            "terraform init && terraform plan. Exit status 0, or 2 for a wrong repo, option or directory."
        ),
    )
    add_sizing_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where to write the module")
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="DIR",
        help=f"the module to copy (default: {TERRAFORM} of the checkout this package runs from)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite files already in --out")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    source = checkout_path(args.source, TERRAFORM, "--from")
    modules = sorted(source.glob("*.tf"))
    if not modules:
        raise CliError(f"{source} holds no .tf file: --from takes a Terraform module directory")
    sizing = size(args)
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out} is a file, not a directory")
    targets = [out / path.name for path in modules] + [out / TFVARS]
    existing = [str(path) for path in targets if path.exists()]
    if existing and not args.force:
        raise CliError(f"would overwrite {', '.join(existing)}: give --force, or another --out")
    out.mkdir(parents=True, exist_ok=True)
    for path in modules:
        shutil.copyfile(path, out / path.name)
    (out / TFVARS).write_text(tfvars(sizing))
    for note in sizing.notes:
        print(f"sizes: {note}")
    print(f"wrote {len(modules)} .tf files and {TFVARS} to {out}")
    print(tfvars(sizing), end="")
    return 0
