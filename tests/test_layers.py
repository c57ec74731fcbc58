"""The dependency direction of docs/architecture.md, read from the imports with `ast`.

Core (the top-level modules, kernels/, restoration/) never imports the batching, I/O or
application layers; flax and optax are imported under dil/ only; the library never
imports the experiments. `issr_jax/__init__.py` (the public API) may re-export from any
layer, and `issr_jax/__main__.py` starts the command line.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "issr_jax"
MODULES = sorted(PACKAGE.rglob("*.py"))
OUTER = ("issr_jax.app", "issr_jax.batch", "issr_jax.io")
LIMIT_LINES = 400


def _imports(path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file (lazy ones too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else "core"


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _named(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def test_the_walk_sees_every_layer():
    assert {_layer(p) for p in MODULES} >= {
        "core",
        "noise",
        "kernels",
        "restoration",
        "dil",
        "batch",
        "io",
        "metrics",
        "app",
    }


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in MODULES
        if _layer(p) in ("core", "noise", "kernels", "restoration") and p.name not in ("__init__.py", "__main__.py")
    ]
    + [PACKAGE / name / "__init__.py" for name in ("noise", "kernels", "restoration")],
    ids=_named,
)
def test_core_never_imports_batching_io_or_the_app(path):
    assert not [n for n in _imports(path) if any(_within(n, outer) for outer in OUTER)]


@pytest.mark.parametrize("path", [p for p in MODULES if _layer(p) != "dil"], ids=_named)
def test_flax_and_optax_only_under_dil(path):
    assert not [n for n in _imports(path) if _within(n, "flax") or _within(n, "optax")]


@pytest.mark.parametrize("path", MODULES, ids=_named)
def test_the_library_never_imports_the_experiments(path):
    assert not [n for n in _imports(path) if _within(n, "experiments")]


@pytest.mark.parametrize("path", [p for p in MODULES if _layer(p) in ("batch", "io", "metrics", "dil")], ids=_named)
def test_inner_layers_never_import_the_app(path):
    assert not [n for n in _imports(path) if _within(n, "issr_jax.app")]


@pytest.mark.parametrize("path", [p for p in MODULES if _layer(p) == "io"], ids=_named)
def test_io_imports_no_stage(path):
    assert not [n for n in _imports(path) if _within(n, "issr_jax") and not _within(n, "issr_jax.io")]


@pytest.mark.parametrize("path", MODULES, ids=_named)
def test_no_module_is_over_the_limit(path):
    assert len(path.read_text().splitlines()) <= LIMIT_LINES


def test_every_sub_package_says_what_lives_there():
    for init in PACKAGE.glob("*/__init__.py"):
        assert ast.get_docstring(ast.parse(init.read_text())), init
