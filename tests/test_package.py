"""Package-level contracts: public API resolves, layering holds, no upward imports."""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# toy_models -> empirical -> analysis: what each pillar may NOT import.
FORBIDDEN = {
    "toy_models": {
        "torch",
        "statsmodels",
        "matplotlib",

        "empirical",
        "analysis",
    },
    "empirical": {"statsmodels", "matplotlib", "analysis"},
}


@pytest.mark.parametrize("package", ["toy_models", "empirical", "analysis"])
def test_public_names_resolve(package):
    mod = importlib.import_module(package)
    assert mod.__all__, package
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"{package}.{name}"
    with pytest.raises(AttributeError):
        mod.no_such_name  # noqa: B018


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layering_no_upward_imports(package):
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imported_roots(p) & FORBIDDEN[package])
        for p in sorted((ROOT / package).rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_utils_grab_bag():
    assert not [p for p in ROOT.glob("*/utils.py")]
