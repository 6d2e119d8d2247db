import argparse
import importlib
import subprocess
import sys

import pytest

from eoss.analysis.cli.main import COMMANDS, build_parser, main


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_unknown_command_is_one_line_exit_2(capsys):
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("eoss") and "\n" not in err


def test_python_dash_m_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "eoss", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "eoss" in out.stdout


def test_help_lists_commands_in_commands_order(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    names = [importlib.import_module(f"eoss.analysis.cli.{m}").NAME for m in COMMANDS]
    assert list(_subparsers(build_parser()).choices) == names
    positions = [out.index(f"\n    {name}") for name in names]
    assert positions == sorted(positions)


@pytest.mark.parametrize("module", COMMANDS)
def test_command_module_contract(module):
    mod = importlib.import_module(f"eoss.analysis.cli.{module}")
    assert isinstance(mod.NAME, str) and isinstance(mod.HELP, str)
    assert callable(mod.add_arguments) and callable(mod.handle)
    assert not hasattr(mod, "register") and not hasattr(mod, "ORDER")
    parser = _subparsers(build_parser()).choices[mod.NAME]
    default = mod.__doc__.split("\n")[0]
    assert parser.description == getattr(mod, "DESCRIPTION", default)
    assert parser.get_default("handler") is mod.handle
