"""The Terraform module (feast_chalk_dynamo/terraform, package data) as Python values, for tests that
hold it to the code.

python-hcl2 parses each file; the blocks of all files are merged the way
Terraform merges a module's files. Expressions stay text (``"${var.x}"``):
the tests compare them as written, and resolve a bare ``var.x`` to its
default, which is what a plain ``terraform apply`` uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

TERRAFORM_DIR = Path(__file__).resolve().parents[1] / "feast_chalk_dynamo" / "terraform"
TFVARS_EXAMPLE = TERRAFORM_DIR / "terraform.tfvars.example"

# Plain values: no comments, no block markers, strings without their quotes.
_OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
_VARIABLE = re.compile(r"^\$\{var\.(\w+)\}$")


def parse(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as file:
        parsed: dict[str, Any] = hcl2.load(file, serialization_options=_OPTIONS)
    return parsed


@dataclass(frozen=True)
class Terraform:
    """Every top-level block of every ``.tf`` file, by kind (``resource``, ``data``, ``variable``, ...)."""

    blocks: dict[str, list[dict[str, Any]]]

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        return self._labelled("resource", kind, name)

    def data(self, kind: str, name: str) -> dict[str, Any]:
        return self._labelled("data", kind, name)

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every resource of one kind, by name."""
        return {
            name: body
            for block in self.blocks.get("resource", [])
            for name, body in block.get(kind, {}).items()
        }

    def locals(self) -> dict[str, Any]:
        return self._merged("locals")

    def local(self, name: str) -> Any:
        return self.locals()[name]

    def variables(self) -> dict[str, dict[str, Any]]:
        return self._merged("variable")

    def resolve(self, value: Any) -> Any:
        """A bare ``${var.x}`` as its default; anything else as written."""
        match = _VARIABLE.match(value) if isinstance(value, str) else None
        return self.variables()[match.group(1)]["default"] if match else value

    def _labelled(self, block: str, kind: str, name: str) -> dict[str, Any]:
        found = [body[kind][name] for body in self.blocks.get(block, []) if name in body.get(kind, {})]
        assert len(found) == 1, f"{block} {kind}.{name}: {len(found)} definitions"
        return found[0]

    def _merged(self, block: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for body in self.blocks.get(block, []):
            merged.update(body)
        return merged


def load(directory: Path = TERRAFORM_DIR) -> Terraform:
    blocks: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(directory.glob("*.tf")):
        for kind, bodies in parse(path).items():
            blocks.setdefault(kind, []).extend(bodies)
    return Terraform(blocks)
