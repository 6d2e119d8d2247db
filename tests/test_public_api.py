"""Every public name resolves to the object its documentation describes.

For each ``__all__`` of ``eoss`` and of its three pillars: the name is not a
module; a ``snake_case`` name is a function (or another non-class callable), a
``CamelCase`` name is a class, an ``UPPER_CASE`` name is a constant; functions
and classes are defined in the module the export table names, under the same
name, with a docstring. All submodules are imported first, so a submodule
attribute cannot shadow a lazy export (``from eoss.empirical import lanczos``
once returned the module).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types

import pytest

PACKAGES = ("eoss", "eoss.toy_models", "eoss.empirical", "eoss.analysis")


def _import_everything() -> None:
    for name in PACKAGES[1:]:
        pkg = importlib.import_module(name)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{name}."):
            importlib.import_module(info.name)


def _exports(package: str) -> list[tuple[str, str]]:
    mod = importlib.import_module(package)
    return [(package, n) for n in mod.__all__ if n != "__version__"]


ALL = [pair for package in PACKAGES for pair in _exports(package)]


@pytest.fixture(scope="module", autouse=True)
def _everything_imported() -> None:
    _import_everything()


def _kind(name: str) -> str:
    if name.isupper():
        return "constant"
    return "class" if name[0].isupper() else "function"


@pytest.mark.parametrize(("package", "name"), ALL, ids=[f"{p}.{n}" for p, n in ALL])
def test_name_is_what_it_says(package, name):
    mod = importlib.import_module(package)
    obj = getattr(mod, name)
    assert not isinstance(obj, types.ModuleType), f"{package}.{name} is a module"
    kind = _kind(name)
    if kind == "constant":
        assert not callable(obj) or isinstance(obj, dict)
        return
    if kind == "class":
        assert inspect.isclass(obj), f"{package}.{name} is not a class: {obj!r}"
    else:
        assert callable(obj) and not inspect.isclass(obj), f"{package}.{name}"
    assert obj.__name__ == name
    assert obj.__module__ == mod._EXPORTS[name], f"{package}.{name}"
    assert inspect.getdoc(obj), f"{package}.{name} has no docstring"


def test_top_level_names_are_the_pillars_objects():
    import eoss

    for name in eoss.__all__:
        if name == "__version__":
            continue
        source = importlib.import_module(eoss._EXPORTS[name])
        assert getattr(eoss, name) is getattr(source, name)
    assert set(eoss.__all__) <= set(dir(eoss)) | {"__version__"}


def test_the_user_facing_names():
    import eoss
    import eoss.empirical
    from eoss.empirical.solvers.lanczos import lanczos

    assert eoss.lanczos is eoss.empirical.lanczos is lanczos
    assert inspect.isfunction(eoss.lanczos)
    for fn in (
        "full_sharpness",
        "minibatch_sharpness",
        "batch_lambda_max",
        "ntk_lambda_max",
        "as_dataset",
        "get_loss",
    ):
        assert inspect.isfunction(getattr(eoss, fn)), fn
    for cls in ("SharpnessMonitor", "ArrayDataset", "Tracker", "MiniBatchSharpness"):
        assert inspect.isclass(getattr(eoss, cls)), cls
    assert eoss.SharpnessMonitor is eoss.analysis.SharpnessMonitor
    assert eoss.as_dataset is eoss.empirical.as_dataset
