"""Figures are plain matplotlib Figures: no pyplot, no backend switch."""

import subprocess
import sys

import pytest

from eoss.analysis.report.figure_ref import FigureSet
from eoss.analysis.report.plots.canvas import new_figure, save_figure


def test_importing_canvas_keeps_the_backend(tmp_path):
    code = (
        "import matplotlib\n"
        "matplotlib.use('svg')\n"
        "import eoss.analysis.report.plots.canvas as c\n"
        "import eoss.analysis.report.figures\n"
        "fig, ax = c.new_figure()\n"
        "ax.plot([1, 2], [3, 4])\n"
        f"c.save_figure(fig, {str(tmp_path / 'f')!r})\n"
        "import sys\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "print(matplotlib.get_backend())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "svg"
    assert (tmp_path / "f.png").stat().st_size > 0
    assert (tmp_path / "f.pdf").stat().st_size > 0


def test_saved_figures_are_byte_stable(tmp_path):
    for name in ("a", "b"):
        fig, ax = new_figure()
        ax.plot([1, 2, 3], [1, 4, 9])
        save_figure(fig, tmp_path / name)
    for ext in (".png", ".pdf"):
        a = (tmp_path / f"a{ext}").read_bytes()
        assert a == (tmp_path / f"b{ext}").read_bytes()


def test_figure_set_saves_and_records(tmp_path):
    figs = FigureSet(tmp_path)
    with figs.figure("runs", "one", "Caption.", size=(3.0, 2.0)) as ax:
        ax.plot([1, 2], [1, 2])
    with figs.figure("ntk", "two", "Two panels.", size=(3.0, 2.0), ncols=2) as axes:
        assert len(axes) == 2
    assert [(r.section, r.name, r.caption) for r in figs.refs] == [
        ("runs", "one", "Caption."),
        ("ntk", "two", "Two panels."),
    ]
    assert (tmp_path / "figures" / "one.png").is_file()
    assert (tmp_path / "figures" / "two.pdf").is_file()


def test_figure_set_records_nothing_when_drawing_fails(tmp_path):
    figs = FigureSet(tmp_path)
    with pytest.raises(RuntimeError), figs.figure("x", "bad", "c", size=(3.0, 2.0)):
        raise RuntimeError("drawing failed")
    assert figs.refs == [] and not (tmp_path / "figures" / "bad.png").exists()
