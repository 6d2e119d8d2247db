"""The HTML a reader opens: formulas stay literal, tables and lists fit the page."""

import re

import numpy as np

from eoss.analysis.cli.main import main
from eoss.analysis.report.build import build_report
from eoss.analysis.report.html import markdown_to_html
from eoss.analysis.report.markdown import code_formulas, fits_md, md_table
from eoss.analysis.stats.compare import GapCurve
from eoss.analysis.study.gap_fits import fit_curve


def test_sympy_formulas_become_code_not_bold():
    text = md_table(
        ("claim", "note"),
        [("λ_1", "diagonal/half: a1**2 + b1**2; full: 2*a1**2 + 2*b1**2. **kept**")],
    )
    assert "`a1**2 + b1**2`" in text and "`2*a1**2 + 2*b1**2`." in text
    page = markdown_to_html(text, title="t")
    assert "<code>a1**2 + b1**2</code>" in page
    assert "<strong>kept</strong>" in page  # real bold still works
    assert "<strong>2" not in page and "</strong>2" not in page
    # formulas already in code spans, and text without **, are left alone
    assert code_formulas("`x**2` and c(s_1 + 2)") == "`x**2` and c(s_1 + 2)"
    # even unwrapped, a formula's ** inside a word is never bold in the HTML
    assert "<strong>" not in markdown_to_html("a1**2 + b1**2", title="t")


def test_wide_tables_scroll_in_their_own_box():
    wide = md_table([f"column {i}" for i in range(30)], [list(range(30))])
    page = markdown_to_html(f"- {'long item ' * 200}\n\n{wide}", title="t")
    assert '<div class="table-wrap"><table>' in page and "</table></div>" in page
    css = re.search(r"<style>(.*)</style>", page, re.S).group(1)
    assert ".table-wrap{overflow-x:auto" in css and "overflow-wrap:anywhere" in css


def test_report_of_real_derivations_renders_formulas_and_tables(tmp_path, capsys):
    # the derivations' sympy text (a1**2 + b1**2 ...) through the whole report
    assert main(["derive", "all", "--json"]) == 0
    (tmp_path / "derive.json").write_text(capsys.readouterr().out)
    result = build_report([tmp_path / "derive.json"], tmp_path / "r", title="derive")
    page = result.html.read_text()
    assert "**2" in page  # the formulas are there ...
    assert not re.search(r"\w<strong>", page)  # ... and none turned into bold
    assert re.search(r"<code>[^<]*\*\*2[^<]*</code>", page)
    n_tables = page.count("<table>")
    assert n_tables >= 1 and page.count('<div class="table-wrap"><table>') == n_tables


def test_points_at_b_equal_n_enter_no_fit_and_are_counted():
    n = 1024
    b = np.array([2.0**k for k in range(11)])  # 1 .. 1024 = n
    gap = np.where(b < n, 1 / b, 6e-4)  # solver noise at b = n, as measured
    cf = fit_curve(GapCurve.of(b, gap, 0.01 * gap, "static"), n, fpc=True)
    assert cf.n_full_batch == 1 and n not in cf.curve.batch_size
    assert abs(cf.fit("all").exponent - 1.0) < 1e-6  # undragged by the b = n point
    assert cf.to_dict()["n_full_batch"] == 1
    assert "1 point(s) with b ≥ n = 1024 left out of every fit" in fits_md(cf)
    same = fit_curve(GapCurve.of(b[:-1], gap[:-1], 0.01 * gap[:-1], "s"), n)
    assert same.n_full_batch == 0 and "left out" not in fits_md(same)


def test_image_alt_text_may_hold_brackets():
    text = "![MiniBS = E_B[λ_max(H_B)] and FullBS](figures/x.png)\n"
    html = markdown_to_html(text, title="t", image_loader=lambda _: b"\x89PNG")
    assert "<img" in html and "E_B[λ_max(H_B)]" in html
