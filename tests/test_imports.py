"""Import rules of the package, checked by parsing every module (no imports are executed).

1. No module imports another module's underscore names: ``from pkg.mod import _x`` and
   ``import pkg._mod`` are allowed only inside the package that owns the private name
   (a private module of a package is shared by that package's modules, and by those of its
   sub-packages; a private name of a module is that module's alone).
2. Imports point downward (ARCHITECTURE.md): the layers below never import the ones above,
   not even lazily inside a function. ``if TYPE_CHECKING:`` imports are type annotations
   only and are exempt from rule 2 (never from rule 1).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "detectkit"

#: module (or package) prefix -> packages it must never import
LAYERS: dict[str, tuple[str, ...]] = {
    "detectkit.errors": ("detectkit.",),
    "detectkit._atomic": ("detectkit.",),
    "detectkit._checks": ("detectkit.dataset", "detectkit.formats", "detectkit.metrics", "detectkit.models"),
    "detectkit.boxes": (
        "detectkit.dataset",
        "detectkit.formats",
        "detectkit.metrics",
        "detectkit.models",
        "detectkit.viz",
    ),
    "detectkit.nms": (
        "detectkit.dataset",
        "detectkit.formats",
        "detectkit.metrics",
        "detectkit.models",
        "detectkit.viz",
    ),
    "detectkit.image": (
        "detectkit.dataset",
        "detectkit.formats",
        "detectkit.metrics",
        "detectkit.models",
        "detectkit.cli",
    ),
    "detectkit.detections": ("detectkit.dataset", "detectkit.formats", "detectkit.metrics", "detectkit.models"),
    "detectkit.table": (
        "detectkit.dataset",
        "detectkit.formats",
        "detectkit.metrics",
        "detectkit.models",
        "detectkit.cli",
    ),
    "detectkit.registry": ("detectkit.dataset", "detectkit.formats", "detectkit.metrics", "detectkit.models"),
    "detectkit.dataset": (
        "detectkit.formats",
        "detectkit.metrics",
        "detectkit.models",
        "detectkit.cli",
        "detectkit.viz",
    ),
    "detectkit.formats": ("detectkit.metrics", "detectkit.models", "detectkit.cli", "detectkit.viz"),
    "detectkit.metrics": ("detectkit.cli",),
    # metrics reads files through formats, and only in its input adapter: the engine, the result
    # and its plots work on arrays (formats -> table -> metrics._inputs -> engine arrays)
    "detectkit.metrics._engine": ("detectkit.formats", "detectkit.dataset", "detectkit.table", "detectkit.cli"),
    "detectkit.metrics._confusion": ("detectkit.formats", "detectkit.dataset", "detectkit.cli"),
    "detectkit.metrics._plots": ("detectkit.formats", "detectkit.dataset", "detectkit.cli"),
    "detectkit.metrics.result": ("detectkit.formats", "detectkit.cli"),
    "detectkit.metrics.evaluation": ("detectkit.formats", "detectkit.cli"),
    "detectkit.viz": ("detectkit.metrics", "detectkit.models", "detectkit.cli"),
    "detectkit.models": ("detectkit.cli",),
}


#: Known violations of rule 1, each (importing module, private module it reaches into): none.
KNOWN_PRIVATE_IMPORTS: frozenset[tuple[str, str]] = frozenset()


def _modules() -> list[tuple[str, Path, bool]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out.append((".".join(parts), path, is_package))
    return out


def _imports(path: Path, module: str, is_package: bool) -> list[tuple[int, str, bool]]:
    """``(line, imported dotted name, under TYPE_CHECKING)``; ``from a import b`` gives ``a.b``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            guarded = typing_only
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for sub in child.body:
                    visit_stmt(sub, True)
                for sub in child.orelse:
                    visit_stmt(sub, typing_only)
                continue
            visit_stmt(child, guarded)

    def visit_stmt(child: ast.AST, typing_only: bool) -> None:
        if isinstance(child, ast.Import):
            found.extend((child.lineno, a.name, typing_only) for a in child.names)
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:
                pkg = module.split(".") if is_package else module.split(".")[:-1]
                pkg = pkg[: len(pkg) - (child.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            found.extend((child.lineno, f"{base}.{a.name}", typing_only) for a in child.names)
        visit(child, typing_only)

    visit(tree, False)
    return [f for f in found if f[1].startswith("detectkit")]


def _package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def _private_owners(name: str) -> list[str]:
    """The dotted paths that own the private components of ``name`` (empty: all public)."""
    parts = name.split(".")
    return [
        ".".join(parts[:i])
        for i, part in enumerate(parts)
        if part.startswith("_") and not (part.startswith("__") and part.endswith("__"))
    ]


def _is_package(dotted: str) -> bool:
    return (PACKAGE.parent / Path(*dotted.split(".")) / "__init__.py").is_file()


def test_no_module_imports_another_modules_private_names() -> None:
    bad = []
    for module, path, is_package in _modules():
        pkg = _package_of(module, is_package)
        for line, name, _ in _imports(path, module, is_package):
            if any(module == m and name.startswith(p + ".") for m, p in KNOWN_PRIVATE_IMPORTS):
                continue
            for owner in _private_owners(name):
                own = owner == module or (_is_package(owner) and (pkg == owner or pkg.startswith(owner + ".")))
                if not own:
                    bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name}")
                    break
    assert not bad, "imports of other modules' private names:\n" + "\n".join(bad)


def test_imports_point_downward() -> None:
    bad = []
    for module, path, is_package in _modules():
        rules = [v for k, v in LAYERS.items() if module == k or module.startswith(k + ".")]
        for line, name, typing_only in _imports(path, module, is_package):
            if typing_only:
                continue
            for forbidden in (f for rule in rules for f in rule):
                if (name + ".").startswith(forbidden if forbidden.endswith(".") else forbidden + ".") and not (
                    name + "."
                ).startswith(module + "."):
                    bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {module} imports {name}")
    assert not bad, "upward imports:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("name", "owners"),
    [
        ("detectkit.dataset._decoded", ["detectkit.dataset"]),
        ("detectkit.formats._common.x", ["detectkit.formats"]),
        ("detectkit.metrics._inputs._mask", ["detectkit.metrics", "detectkit.metrics._inputs"]),
        ("detectkit.__init__", []),
        ("detectkit.table.ObjectTable", []),
    ],
)
def test_private_owners(name: str, owners: list[str]) -> None:
    assert _private_owners(name) == owners
