import numpy as np
import pytest
from scipy import stats

from eoss.analysis.claims.table import (
    CLAIMS,
    band_verdict,
    not_measured,
    ordering_verdict,
    row,
)
from eoss.analysis.report.html import markdown_to_html
from eoss.analysis.stats.batch_means import Level
from eoss.analysis.study.sweeps import combine, sweep_key


def _lvl(lo, hi, mean=None, se=0.01):
    m = (lo + hi) / 2 if mean is None else mean
    return Level(m, se, (lo, hi), 10, 3, None)


@pytest.mark.parametrize(
    "cis, verdict",
    [
        ([(1.01, 1.1), (1.2, 1.9)], "supported"),
        ([(1.01, 1.1), (0.9, 1.05)], "inconclusive"),
        ([(1.01, 1.1), (0.8, 0.95)], "not supported"),
        ([], "inconclusive"),
    ],
)
def test_band_verdict(cis, verdict):
    assert band_verdict([_lvl(*c) for c in cis], 1.0, 2.0) == verdict


def test_ordering_verdict_matches_one_sided_t():
    df = 5
    crit = stats.t.ppf(0.95, df)
    assert ordering_verdict(1.01 * crit, 1.0, df) == "supported"
    assert ordering_verdict(0.99 * crit, 1.0, df) == "inconclusive"
    assert ordering_verdict(-1.01 * crit, 1.0, df) == "not supported"
    assert ordering_verdict(1.0, np.nan) == "inconclusive"


def test_rows_are_validated_and_not_measured_says_what_is_needed():
    r = not_measured("ntk_tracks_minibs")
    assert r.verdict == "not measured" and "ntk" in r.note
    with pytest.raises(ValueError):
        row("no_such_claim", "s", "m", "supported", "c")
    with pytest.raises(ValueError):
        row("minibs_band", "s", "m", "maybe", "c")
    assert len(CLAIMS) >= 15


def test_combine_seeds_uses_larger_of_within_and_between():
    one = combine([_lvl(0.9, 1.1, mean=1.0, se=0.05)])
    assert one == (1.0, 0.05)
    mean, se = combine([_lvl(0, 0, mean=m, se=0.001) for m in (1.0, 2.0, 3.0)])
    assert mean == pytest.approx(2.0)
    assert se == pytest.approx(1.0 / np.sqrt(3))  # between-run SE dominates


def test_sweep_key_ignores_batch_size_seed_and_tracking():
    a = {
        "lr": 0.01,
        "batch_size": 8,
        "seed": 0,
        "track": {"n_batches": 32},
        "model": {"w": 1},
    }
    b = {
        "lr": 0.01,
        "batch_size": 64,
        "seed": 3,
        "track": {"n_batches": 8},
        "model": {"w": 1},
    }
    c = {**a, "lr": 0.02}
    assert sweep_key(a) == sweep_key(b) != sweep_key(c)


def test_markdown_html_escapes_and_embeds():
    md = "# T <x>\n\n| a | b |\n|---|---|\n| not supported | 1 \\| 2 |\n\n![c](f.png)\n"
    html = markdown_to_html(md, title="T", image_loader=lambda p: b"\x89PNG")
    assert "<h1>T &lt;x&gt;</h1>" in html
    assert '<td class="v-not-supported">not supported</td><td>1 | 2</td>' in html
    assert 'src="data:image/png;base64,iVBORw=="' in html
    kept = markdown_to_html("![c](f.png)\n", title="T", image_loader=lambda p: None)
    assert 'src="f.png"' in kept
