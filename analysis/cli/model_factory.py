"""A user's model factory named on the command line: ``--model pkg.module:factory``.

``eoss sharpness --model mypkg.nets:make_net`` and ``eoss train --model
mypkg.nets:make_net`` import ``mypkg.nets`` (from ``sys.path``, then from the
current directory) and call ``make_net`` to build the network, instead of a
registered architecture. The factory is called in one of two ways, chosen from
its signature:

* ``factory()`` when it takes no required arguments;
* ``factory(input_shape, num_classes)`` otherwise: the shape of one input (e.g.
  ``(3, 32, 32)`` or ``(T,)`` for token ids) and the number of outputs C of the
  data set.

It must return an ``nn.Module`` that maps a batch of inputs ``(b, *input_shape)``
to outputs ``(b, C)`` for the named loss conventions. Its own initialisation is
kept (eoss's Kaiming re-initialisation of registered models is not applied), run
under a forked torch RNG seeded from the run's ``init`` stream: the same seed
gives the same weights, and the caller's global RNG is left as it was.

In a training run the spec is stored as ``model.name`` in ``config.json``;
``--resume``, ``--fork`` and ``eoss sharpness --checkpoint`` import the factory
again from it. A bad spec fails with one line (:class:`UsageError`).
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eoss.analysis.cli.main import UsageError

SEPARATOR = ":"


def is_factory_spec(name: str) -> bool:
    """Whether a ``--model`` value names a factory (``pkg.module:factory``).

    Args:
        name: The value.

    Returns:
        True when it contains ``:`` (registry names never do).
    """
    return SEPARATOR in name


def load_factory(spec: str) -> Callable[..., Any]:
    """Import the callable named by ``pkg.module:factory`` (``factory`` may be dotted).

    Args:
        spec: The spec.

    Returns:
        The callable.

    Raises:
        UsageError: On a malformed spec, a module that does not import, a missing
            attribute or one that is not callable.
    """
    module_name, _, attr = spec.partition(SEPARATOR)
    if not module_name or not attr or SEPARATOR in attr:
        raise UsageError(f"--model {spec!r}: expected pkg.module:factory")
    module = _import(module_name, spec)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(
                f"--model {spec!r}: {module_name} has no attribute {attr!r}"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"--model {spec!r}: {attr} is not callable")
    return obj


def _import(module_name: str, spec: str) -> Any:
    """Import a module from ``sys.path``, then from the current directory."""
    for attempt in range(2):
        try:
            return importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing_self = exc.name is not None and (
                module_name == exc.name or module_name.startswith(exc.name + ".")
            )
            cwd = os.getcwd()
            if attempt == 0 and missing_self and cwd not in sys.path:
                sys.path.append(cwd)
                continue
            raise UsageError(f"--model {spec!r}: cannot import {exc.name!r}") from None
        except Exception as exc:  # the user's module failed while importing
            raise UsageError(
                f"--model {spec!r}: importing {module_name} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from None
    raise AssertionError("unreachable")


def build_from_factory(
    spec: str, input_shape: tuple[int, ...], num_classes: int, seed: int
) -> Any:
    """Call the factory under a forked, seeded torch RNG and check what it returns.

    Args:
        spec: ``pkg.module:factory``.
        input_shape: Shape of one input.
        num_classes: Number of outputs C.
        seed: Seed of the factory's initialisation.

    Returns:
        The ``nn.Module``.

    Raises:
        UsageError: If the spec is bad, the call fails or the result is not an
            ``nn.Module``.
    """
    import torch

    factory = load_factory(spec)
    shape = tuple(int(s) for s in input_shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = (
                factory()
                if _takes_no_arguments(factory)
                else factory(shape, int(num_classes))
            )
        except Exception as exc:
            raise UsageError(
                f"--model {spec!r}: the factory raised {type(exc).__name__}: {exc}"
            ) from None
    if not isinstance(model, torch.nn.Module):
        raise UsageError(
            f"--model {spec!r}: the factory returned {type(model).__name__}, "
            "not an nn.Module"
        )
    return model


def _takes_no_arguments(factory: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return not any(
        p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in params
    )


def register_factory(spec: str) -> str:
    """Make ``spec`` a name of the model registry, so a ``TrainConfig`` can use it.

    The registered builder keeps the factory's own initialisation (it is marked
    ``owns_init``; :func:`eoss.empirical.models.build_model` passes it the init
    generator instead of re-initialising).

    Args:
        spec: ``pkg.module:factory``.

    Returns:
        The spec (the registry key, to use as ``model.name``).
    """
    import torch

    from eoss.empirical.models import MODEL_REGISTRY

    load_factory(spec)  # fail early, with one line

    def builder(
        input_shape: tuple[int, ...],
        n_out: int,
        _spec: Any,
        gen: torch.Generator | None = None,
    ) -> torch.nn.Module:
        # without ``gen`` (e.g. a size estimate on the meta device) any seed will do
        seed = 0 if gen is None else int(torch.randint(0, 2**62, (1,), generator=gen))
        return build_from_factory(spec, input_shape, n_out, seed)

    builder.owns_init = True  # type: ignore[attr-defined]
    MODEL_REGISTRY[spec] = builder
    return spec


def register_run_model(run_spec: str | Path) -> None:
    """Register the factory of a stored run (``RUN_DIR[:STEP]``), if it used one.

    Args:
        run_spec: The run directory, optionally with ``:STEP``.
    """
    from eoss.analysis.cli.runs import parse_run_spec
    from eoss.analysis.records.io import read_json

    run_dir, _ = parse_run_spec(str(run_spec))
    try:
        model = read_json(Path(run_dir) / "config.json").get("model", {})
    except (FileNotFoundError, ValueError):
        return  # the caller reports the missing run
    name = model.get("name") if isinstance(model, dict) else None
    if isinstance(name, str) and is_factory_spec(name):
        register_factory(name)


def factory_model(
    spec: str, data: Any, seed: int, dtype: str
) -> tuple[Any, Any, dict[str, Any]]:
    """``eoss sharpness``'s inputs for a factory: the model, its data and a record.

    Args:
        spec: ``pkg.module:factory``.
        data: The data set (:class:`~eoss.empirical.data.arrays.ArrayDataset`).
        seed: The run's seed (the factory runs seeded from its ``init`` stream).
        dtype: ``float32`` or ``float64`` (parameters and float inputs).

    Returns:
        (model, data, JSON-safe description of the model).
    """
    import torch

    from eoss.empirical.rng import torch_gen

    gen = torch_gen(seed, "init")
    seed_value = int(torch.randint(0, 2**62, (1,), generator=gen))
    model = build_from_factory(spec, data.input_shape, data.num_classes, seed_value)
    model = model.to(getattr(torch, dtype))
    info = {
        "source": "factory",
        "name": spec,
        "dtype": dtype,
        "n_params": sum(p.numel() for p in model.parameters()),
        "init_seed_stream": "init",
        "data": data.name,
        "data_provenance": data.provenance,
    }
    return model, data, info
