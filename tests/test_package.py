"""Package-level contracts: one namespace, every package listed, layering, no circles.

Layering (an arrow may only point down; checked over every import, including
function-local ones)::

    eoss.analysis.cli
    eoss.analysis.report
    eoss.analysis.claims
    eoss.analysis.study
    eoss.analysis.stats
    eoss.analysis.records
    eoss.empirical        (never imports eoss.analysis)
    eoss.toy_models       (never imports torch, eoss.empirical, eoss.analysis)
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
# source folder of each top-level namespace package
FOLDERS = {
    "eoss": "eoss",
    "eoss.toy_models": "toy_models",
    "eoss.empirical": "empirical",
    "eoss.analysis": "analysis",
}
THIRD_PARTY_FORBIDDEN = {
    "eoss.toy_models": {"torch", "statsmodels", "matplotlib"},
    "eoss.empirical": {"statsmodels", "matplotlib"},
}
# Rooms from the bottom up: a module may import its own room and rooms below it.
ANALYSIS_ROOMS = ("records", "stats", "study", "claims", "report", "cli")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    for pkg, folder in FOLDERS.items():
        if rel.parts[0] == folder:
            parts = [*pkg.split("."), *rel.with_suffix("").parts[1:]]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            return ".".join(parts)
    raise ValueError(path)


def _source_files() -> list[Path]:
    return sorted(
        p for folder in FOLDERS.values() for p in (ROOT / folder).rglob("*.py")
    )


MODULES = {_module_name(p): p for p in _source_files()}


def _imports(path: Path) -> set[str]:
    """Every module imported anywhere in the file (top level or function-local)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {
                f"{node.module}.{a.name}"
                for a in node.names
                if f"{node.module}.{a.name}" in MODULES
            }
    return out


def _internal(imports: set[str]) -> set[str]:
    return {m for m in imports if m in MODULES}


def test_every_package_folder_is_listed():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
            "packages"
        ]
    )
    found = {
        _module_name(p.parent / "__init__.py")
        for p in ROOT.glob("*/**/__init__.py")
        if p.relative_to(ROOT).parts[0] in FOLDERS.values()
    }
    found.add("eoss")
    assert found == listed


@pytest.mark.parametrize(
    "package", ["eoss", "eoss.toy_models", "eoss.empirical", "eoss.analysis"]
)
def test_public_names_resolve(package):
    mod = importlib.import_module(package)
    assert mod.__all__, package
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"{package}.{name}"
    with pytest.raises(AttributeError):
        mod.no_such_name  # noqa: B018


def test_one_namespace(tmp_path):
    """Outside the checkout only ``eoss`` is importable; ``python -m eoss`` works."""
    code = (
        "import importlib.util as u, eoss;"
        "print([n for n in ('analysis', 'empirical', 'toy_models') if u.find_spec(n)]);"
        "print(eoss.__version__)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    found, version = res.stdout.split("\n")[:2]
    assert found == "[]"
    ver = subprocess.run(
        [sys.executable, "-m", "eoss", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert ver.stdout.strip() == f"eoss {version}"


@pytest.mark.parametrize("package", sorted(THIRD_PARTY_FORBIDDEN))
def test_pillars_never_import_upward(package):
    above = {
        "eoss.toy_models": ("eoss.empirical", "eoss.analysis"),
        "eoss.empirical": ("eoss.analysis",),
    }[package]
    offenders = {}
    for name, path in MODULES.items():
        if name == package or name.startswith(package + "."):
            imps = _imports(path)
            bad = sorted(
                m
                for m in imps
                if m.split(".")[0] in THIRD_PARTY_FORBIDDEN[package]
                or m.startswith(above)
            )
            if bad:
                offenders[name] = bad
    assert offenders == {}


def _room(module: str) -> int | None:
    parts = module.split(".")
    if parts[:2] != ["eoss", "analysis"] or len(parts) < 3:
        return None
    return ANALYSIS_ROOMS.index(parts[2]) if parts[2] in ANALYSIS_ROOMS else None


def test_analysis_rooms_only_import_downward():
    offenders = {}
    for name, path in MODULES.items():
        mine = _room(name)
        if mine is None:
            continue
        bad = sorted(
            m
            for m in _internal(_imports(path))
            if (r := _room(m)) is not None and r > mine
        )
        if bad:
            offenders[name] = bad
    assert offenders == {}


def test_no_import_circles():
    graph = {name: _internal(_imports(path)) - {name} for name, path in MODULES.items()}
    # a package's __init__ re-exporting its submodules is not a circle
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_no_module_over_400_lines():
    long = {n: len(p.read_text().splitlines()) for n, p in MODULES.items()}
    assert {n: k for n, k in long.items() if k > 400} == {}


def test_no_utils_grab_bag():
    assert not [p for p in MODULES if p.split(".")[-1] in ("utils", "helpers", "misc")]
