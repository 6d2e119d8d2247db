"""``eoss reproduce``: the plan, and the whole pipeline at toy size (smoke preset)."""

import json

import pytest
from eoss.analysis import records
from eoss.analysis.cli.main import main
from eoss.analysis.cli.plan import PRESETS, get_preset, plan


def test_every_preset_plans_all_stages(tmp_path):
    for name, preset in PRESETS.items():
        stages = plan(preset, tmp_path / name, tmp_path / "report")
        labels = [s.name for s in stages]
        assert labels[0] == "derive"
        assert sum(lab.startswith("simulate") for lab in labels) == len(
            preset.simulations
        )
        if preset.study is not None:
            assert "sweep" in labels and "static-gap" in labels
            assert len([lab for lab in labels if lab.startswith("fork")]) == len(
                preset.study.forks
            )
        # every planned command parses (a typo in a flag would fail here, not mid-run)
        for st in stages:
            assert st.argv, st.name
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("huge")


def test_forks_extend_their_source_run():
    # a fork must run past the checkpoint it starts from
    for preset in PRESETS.values():
        study = preset.study
        if study is None:
            continue
        base_steps = [s for s in study.base if s.startswith("steps=")]
        for _, overrides in study.forks:
            (steps,) = [s for s in overrides if s.startswith("steps=")]
            if base_steps:
                assert int(steps.split("=")[1]) > int(base_steps[0].split("=")[1])


def test_dry_run_lists_the_plan(capsys, tmp_path):
    code = main(
        ["reproduce", "--preset", "smoke", "--runs-root", str(tmp_path), "--dry-run"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "[to run] derive" in out and "eoss sweep --preset test" in out


def test_smoke_pipeline_end_to_end_and_resumes(tmp_path, capsys):
    runs, report = tmp_path / "runs", tmp_path / "report"
    argv = ["reproduce", "--preset", "smoke", "--runs-root", str(runs)]
    assert main([*argv, "--out", str(report)]) == 0
    assert "wall time" in capsys.readouterr().out
    summary = records.read_json(runs / "reproduce.json")
    assert summary["failed"] == []
    stages = {s["stage"] for s in summary["stages"]}
    assert {"derive", "sweep", "static-gap", "report"} <= stages
    derive = json.loads((runs / "derive" / "derive.json").read_text())
    assert set(derive["topics"]) >= {"diagonal-network", "lemma41"}
    assert (runs / "static-gap" / "b4" / "static_gap.csv").is_file()
    for name in ("batch_size=4,seed=0", "batch_size=16,seed=0"):
        assert (
            records.RunDir.open(runs / "sweep" / "train" / name).status["status"]
            == "finished"
        )
    text = (report / "report.md").read_text()
    assert "## Claims" in text and (report / "report.html").is_file()

    # a second run reuses every stage and rebuilds the identical report
    again = tmp_path / "report2"
    assert main([*argv, "--out", str(again)]) == 0
    summary = records.read_json(runs / "reproduce.json")
    reused = [s for s in summary["stages"] if s.get("reused")]
    assert (
        len(reused) == len(summary["stages"]) - 2
    )  # all but sweep (self-skips), report
    assert (again / "report.md").read_text() == text
