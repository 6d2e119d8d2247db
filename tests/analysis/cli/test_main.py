import subprocess
import sys

from eoss.analysis.cli.main import main


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
