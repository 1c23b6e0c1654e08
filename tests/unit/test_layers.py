"""The package's layers hold: a module imports only from layers below its own, or from its own unit.

Read off the source with ``ast`` (imports inside functions too), so a
wrong-way arrow fails here, naming file, line and the name imported, before
it can grow into a cycle. The order is the one README's "Layout of the code"
and DESIGN.md give.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import feast_chalk_dynamo

PACKAGE = "feast_chalk_dynamo"
PACKAGE_DIR = Path(feast_chalk_dynamo.__file__).parent

# Lowest first. A unit is a folder of the package, or one of the named modules at its root; the
# other root modules (store, engine, repos, precomputed, the package itself) are the face.
LAYERS: list[tuple[str, ...]] = [
    ("settings", "errors"),
    ("dynamo",),
    ("items",),
    ("local",),
    ("reads", "writes", "aggregates"),
    ("face", "planning"),
    ("migrate", "backfill"),
    ("cli",),
]
LEVEL = {unit: level for level, units in enumerate(LAYERS) for unit in units}
# Only these know Feast's registry and repo config (DESIGN.md): the rest is handed views and settings.
KNOWS_THE_REGISTRY = frozenset({"face", "migrate", "backfill", "cli"})
REGISTRY_MODULES = ("feast.feature_store", "feast.infra.registry")
REGISTRY_NAMES = frozenset({"FeatureStore", "RepoConfig"})


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.imported} ({self.why})"


def unit_of(module: str) -> str:
    """The unit of a dotted module of the package (``feast_chalk_dynamo.items.codec`` -> ``items``)."""
    parts = module.split(".")[1:]
    if not parts:
        return "face"
    if (PACKAGE_DIR / parts[0]).is_dir():
        return parts[0]
    return parts[0] if parts[0] in LEVEL else "face"


def module_name(path: Path, root: Path) -> str:
    relative = path.relative_to(root.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str, str]]:
    """(line, module imported from, name) for every import, relative ones resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ""
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield node.lineno, base, alias.name


def violations_in(source: str, path: str, module: str, is_package: bool = False) -> list[Violation]:
    """What in ``source`` (the text of ``module``) imports against the layers."""
    unit = unit_of(module)
    found: list[Violation] = []
    for line, imported, name in imports(ast.parse(source), module, is_package):
        shown = f"{imported}.{name}" if name else imported
        if imported == PACKAGE or imported.startswith(PACKAGE + "."):
            target = f"{imported}.{name}" if name and (PACKAGE_DIR / name).is_dir() else imported
            target_unit = unit_of(target)
            if target_unit != unit and LEVEL[target_unit] >= LEVEL[unit]:
                why = f"{unit} may import only layers below it; {target_unit} is not"
                found.append(Violation(path, line, shown, why))
        elif unit not in KNOWS_THE_REGISTRY and (
            imported.startswith(REGISTRY_MODULES) or (imported.startswith("feast") and name in REGISTRY_NAMES)
        ):
            found.append(Violation(path, line, shown, f"{unit} knows nothing of Feast's registry or repo"))
        elif unit == "dynamo" and (imported == "feast" or imported.startswith("feast.")):
            found.append(Violation(path, line, shown, "dynamo knows DynamoDB, not Feast"))
    return sorted(found, key=lambda violation: violation.line)


def package_violations() -> list[Violation]:
    found: list[Violation] = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        module = module_name(path, PACKAGE_DIR)
        shown = str(path.relative_to(PACKAGE_DIR.parent))
        found += violations_in(path.read_text(), shown, module, path.name == "__init__.py")
    return found


def test_every_module_imports_only_the_layers_below_its_own() -> None:
    found = package_violations()
    assert not found, "imports against the layers:\n" + "\n".join(map(str, found))


def test_every_unit_of_the_package_has_a_layer() -> None:
    folders = {p.name for p in PACKAGE_DIR.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= set(LEVEL), f"folders with no layer: {sorted(folders - set(LEVEL))}"


def test_a_wrong_way_import_is_named_with_its_file_line_and_name() -> None:
    """The check itself: an import planted against the order is caught, whatever its form."""
    source = (
        '"""A module of the lowest request layer."""\n'
        "from feast_chalk_dynamo.items.layout import PK\n"
        "import feast_chalk_dynamo.local.cache\n"
        "def later():\n"
        "    from ..reads import reader\n"
        "    from feast_chalk_dynamo import store\n"
        "from feast_chalk_dynamo.dynamo.client import RetryPolicy\n"
        "from feast import FeatureStore\n"
    )
    found = violations_in(source, "feast_chalk_dynamo/dynamo/planted.py", "feast_chalk_dynamo.dynamo.planted")
    assert [(v.line, v.imported) for v in found] == [
        (2, "feast_chalk_dynamo.items.layout.PK"),
        (3, "feast_chalk_dynamo.local.cache"),
        (5, "feast_chalk_dynamo.reads.reader"),
        (6, "feast_chalk_dynamo.store"),
        (8, "feast.FeatureStore"),
    ]
    assert str(found[0]) == (
        "feast_chalk_dynamo/dynamo/planted.py:2: imports feast_chalk_dynamo.items.layout.PK "
        "(dynamo may import only layers below it; items is not)"
    )


def test_siblings_of_one_layer_do_not_import_each_other() -> None:
    found = violations_in(
        "from feast_chalk_dynamo.reads.reader import ViewLayout\n",
        "feast_chalk_dynamo/writes/rows.py",
        "feast_chalk_dynamo.writes.rows",
    )
    assert [v.imported for v in found] == ["feast_chalk_dynamo.reads.reader.ViewLayout"]
