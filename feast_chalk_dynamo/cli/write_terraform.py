"""``feast-chalk-dynamo terraform``: the Terraform module, sized for a repo's workload, in a directory.

The module is package data (``feast_chalk_dynamo/terraform``, which its test
holds to the code), so a pip-installed package has it; its ``.tf`` files are
copied as they are, and only ``terraform.tfvars`` is written, with the repo's
table and region and the capacity plan's autoscaling bounds, the same
variables ``capacity --tfvars`` prints.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import feast_chalk_dynamo
from feast_chalk_dynamo.cli.shared import CliError
from feast_chalk_dynamo.cli.sizing import add_sizing_arguments, size, tfvars

TERRAFORM = "feast_chalk_dynamo/terraform"
TFVARS = "terraform.tfvars"
# Package data sits beside the package's modules, in a checkout and in an installed wheel alike.
MODULE = Path(feast_chalk_dynamo.__file__).resolve().parent / "terraform"


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "terraform",
        help="write the Terraform module for a repo and a workload",
        description=(
            f"Copy the Terraform module installed with the package ({TERRAFORM}: the table, its "
            f"autoscaling and IAM policies) into --out and write {TFVARS} for it: table_name and region "
            "from the repo's yaml, a provisioned table autoscaled around the capacity `capacity` plans for "
            "the workload below. Then: cd DIR && terraform init && terraform plan. Exit status 0, or 2 for "
            "a wrong repo, option or directory."
        ),
    )
    add_sizing_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where to write the module")
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="DIR",
        help=f"a module of your own to copy instead (default: {TERRAFORM}, installed with the package)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite files already in --out")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    source: Path = MODULE if args.source is None else args.source
    if not source.is_dir():
        raise CliError(f"--from {source} is not a directory: it takes a Terraform module directory")
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
