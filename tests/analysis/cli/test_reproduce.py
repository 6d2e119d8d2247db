"""``eoss reproduce``: the plan, and the whole pipeline at toy size (smoke preset)."""

import dataclasses
import json

import pytest

from eoss.analysis import records
from eoss.analysis.cli.continuation import FORK_FIXED
from eoss.analysis.cli.main import main
from eoss.analysis.cli.overrides import check_overrides, field_type, from_dict
from eoss.analysis.cli.plan import PRESETS, compose, get_preset, plan
from eoss.analysis.cli.presets import check_study
from eoss.empirical.training.config import TrainConfig


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
            assert "--set" not in st.argv, st.name  # configs travel as files
            if st.config is not None:
                assert str(st.config.path) in st.argv
                from_dict(TrainConfig, dict(st.config.config))  # a full config
        assert not (tmp_path / name).exists()  # planning writes nothing
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("huge")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_overrides_are_trainconfig_fields(name):
    # a renamed or retyped TrainConfig field fails here, not in a reproduction
    study = PRESETS[name].study
    if study is None:
        return
    check_study(study)
    for label, overrides in study.overrides().items():
        for key in overrides:
            field_type(TrainConfig, key)  # a leaf field, not a group
        assert label


def test_check_study_names_the_bad_mapping():
    study = dataclasses.replace(
        PRESETS["smoke"].study, forks=(("lr-down", {"learning_rate": 0.1}),)
    )
    with pytest.raises(ValueError, match="fork lr-down: unknown config key"):
        check_study(study)
    with pytest.raises(ValueError, match="must be an integer"):
        check_study(dataclasses.replace(study, forks=(), base={"steps": 6.5}))
    with pytest.raises(ValueError, match="is a group"):
        check_overrides(TrainConfig, {"track.minibs": 5})


def test_forks_extend_their_source_run(tmp_path):
    # a fork must run past the checkpoint it starts from, and keep what a fork keeps
    for name, preset in PRESETS.items():
        study = preset.study
        if study is None:
            continue
        point = {"batch_size": study.static_from, "seed": study.seeds[0]}
        source = compose(study.preset, study.base, point)
        stages = {s.name: s for s in plan(preset, tmp_path / name, tmp_path / "r")}
        for fork_name, _ in study.forks:
            fork = stages[f"fork {fork_name}"].config.config
            assert fork["steps"] > source["steps"]
            assert all(fork[k] == source[k] for k in FORK_FIXED)


def test_compose_applies_overrides_once_in_order():
    cfg = compose("test", {"steps": 5, "lr": 0.1}, {"steps": 7, "track.n_batches": 3})
    assert cfg["steps"] == 7 and cfg["lr"] == 0.1 and cfg["track"]["n_batches"] == 3
    # only the composed config must be valid: b=100 > n only until n is raised
    assert compose("test", {"batch_size": 100}, {"data.n_train": 128})["batch_size"]
    with pytest.raises(ValueError, match="exceeds"):
        compose("test", {"batch_size": 100})


def test_dry_run_lists_the_plan(capsys, tmp_path):
    code = main(
        ["reproduce", "--preset", "smoke", "--runs-root", str(tmp_path), "--dry-run"]
    )
    out = capsys.readouterr().out
    assert code == 0
    sweep_cfg = tmp_path / "configs" / "sweep.json"
    assert "[to run] derive" in out and f"eoss sweep --config {sweep_cfg}" in out
    assert not sweep_cfg.exists()  # a dry run writes nothing


def test_smoke_pipeline_end_to_end_and_resumes(tmp_path, capsys):
    # The one end-to-end pipeline test of the default run (about 15 s on 2 cores;
    # the other process-level tests are marked slow).
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
    # the stages wrote the configs they composed; a run's config.json equals its file
    replan = tmp_path / "replan"
    for st in plan(get_preset("smoke"), replan, report):
        if st.config is not None:
            written = records.read_json(runs / st.config.path.relative_to(replan))
            assert written == st.config.config
            if st.name != "sweep":  # sweep points: see test_sweep
                run = runs / st.output.relative_to(replan)
                assert records.read_json(run / "config.json") == written

    # a second run reuses every stage and rebuilds the identical report
    again = tmp_path / "report2"
    assert main([*argv, "--out", str(again)]) == 0
    summary = records.read_json(runs / "reproduce.json")
    reused = [s for s in summary["stages"] if s.get("reused")]
    assert (
        len(reused) == len(summary["stages"]) - 2
    )  # all but sweep (self-skips), report
    assert (again / "report.md").read_text() == text
