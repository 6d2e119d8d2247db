"""``eoss reproduce``: the plan, and the whole pipeline at toy size (smoke preset)."""

import dataclasses
import json
import os

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
            for cfg in (st.config, *st.points):
                if cfg is not None:
                    assert str(cfg.path) in " ".join(st.argv)
                    from_dict(TrainConfig, dict(cfg.config))  # a full config
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
    assert len(reused) == len(summary["stages"]) - 1  # all but the report
    assert (again / "report.md").read_text() == text


def test_dry_run_marks_a_finished_sweep_done(capsys, tmp_path):
    preset = get_preset("smoke")
    for st in plan(preset, tmp_path, tmp_path / "r"):
        for run in st.done_runs:  # fake every sweep point as finished
            run.mkdir(parents=True)
            records.write_json(run / "status.json", {"status": "finished"})
    argv = ["reproduce", "--preset", "smoke", "--runs-root", str(tmp_path)]
    assert main([*argv, "--dry-run", *NO_PROBE]) == 0
    out = capsys.readouterr().out
    assert "[done] sweep:" in out and "[to run] static-gap:" in out


# the dry run's timed probe would train a few steps: not what these tests check
NO_PROBE = ("--no-probe",)


def _offline(monkeypatch, tmp_path):
    """No data anywhere, no network: the default root is an empty user cache."""
    def no_network(*args, **kwargs):
        raise OSError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.delenv("EOSS_DATA_ROOT", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(records, "download_file", no_network)
    monkeypatch.chdir(tmp_path)


def test_offline_without_data_stops_before_any_stage(monkeypatch, tmp_path, capsys):
    _offline(monkeypatch, tmp_path)
    assert main(["reproduce", "--preset", "quick"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CIFAR-10 not found under" in err
    assert str(tmp_path / "cache" / "eoss") in err and "--data-root" in err
    assert "[1/" not in err  # no stage ran
    assert list(tmp_path.iterdir()) == []  # no report, no runs, no cache folder


def test_offline_data_check_comes_before_torch_is_imported(tmp_path):
    # a fresh process: the one-line error must not pay for `import torch` (~1-2 s)
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from eoss.analysis import records\n"
        "def no_network(*a, **k): raise OSError('offline')\n"
        "records.download_file = no_network\n"
        "from eoss.analysis.cli.main import main\n"
        "rc = main(['reproduce', '--preset', 'quick'])\n"
        "print(rc, 'torch' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "EOSS_DATA_ROOT"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert res.stdout.split() == ["2", "False"], res.stderr
    assert "CIFAR-10 not found under" in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_offline_dry_run_plans_without_touching_the_cache(
    monkeypatch, tmp_path, capsys
):
    _offline(monkeypatch, tmp_path)
    assert main(["reproduce", "--preset", "quick", "--dry-run", *NO_PROBE]) == 0
    assert "[to run] sweep" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_default_data_root_is_the_user_cache(monkeypatch, tmp_path):
    from eoss.analysis.cli.data_root import resolve_data_root

    monkeypatch.delenv("EOSS_DATA_ROOT", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert resolve_data_root(None) == tmp_path / "eoss"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert resolve_data_root(None).parts[-2:] == (".cache", "eoss")
    monkeypatch.setenv("EOSS_DATA_ROOT", str(tmp_path / "env"))
    assert resolve_data_root(None) == tmp_path / "env"
    assert resolve_data_root(str(tmp_path / "flag")) == tmp_path / "flag"


def test_download_lock_makes_a_second_process_wait(tmp_path):
    import threading
    import time

    from eoss.analysis.records.download import download_lock

    order = []

    def second():
        with download_lock(tmp_path):
            order.append("second")

    with download_lock(tmp_path):
        thread = threading.Thread(target=second)
        # flock is per open file description, so a thread contends like a process
        thread.start()
        time.sleep(0.3)
        order.append("first done")
    thread.join(5)
    assert order == ["first done", "second"]
    assert not (tmp_path / ".download.lock").exists()


def test_stage_progress_line_from_the_records(tmp_path):
    import io

    from eoss.analysis.cli.progress import RowMeter, StageProgress, StepMeter

    run = tmp_path / "train" / "a"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text(
        '{"table": "train", "step": 10}\n{"table": "train", "step": 30}\n{"tab'
    )  # a partly written last line is skipped
    meter = StepMeter((), 60, count=2, folder=tmp_path / "train", pattern="*")
    assert meter() == (30.0, 120.0)
    stream = io.StringIO()
    with StageProgress("[4/7] sweep", meter, stream=stream, interval=0.05):
        (run / "metrics.jsonl").write_text('{"table": "train", "step": 60}\n')
        __import__("time").sleep(0.3)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[4/7] sweep [#####...............]  25%")
    assert any(" 50%" in line and "ETA" in line for line in lines[1:])
    rows = RowMeter(tmp_path / "train", "a", "train", (1.0, 3.0))
    assert rows() == (1.0, 4.0)  # one "train" row in the file now
    quiet = io.StringIO()
    with StageProgress("[1/7] derive", None, stream=quiet, interval=10):
        pass
    assert quiet.getvalue().startswith("[1/7] derive  00:00 elapsed")


def test_quick_static_curve_stays_below_n():
    # at b = n the gap is 0 by construction: it must not cost time or enter a fit
    study = get_preset("quick").study
    n = compose(study.preset, study.base)["data"]["n_train"]
    assert max(study.static_batch_sizes) < n
    assert max(study.batch_sizes) < n


def test_quick_plans_the_noise_variants_side_by_side(tmp_path):
    # Fig. 10 in the main job: SGD, GD and the three noise kinds at one (n, b, eta),
    # as one sweep of named points running the study's jobs at a time
    stages = {s.name: s for s in plan(get_preset("quick"), tmp_path, tmp_path / "r")}
    noise = stages["noise"]
    cfgs = {c.path.stem: c.config for c in noise.points}
    assert set(cfgs) == {"sgd", "gd", "noise-full", "noise-diagonal", "noise-isotropic"}
    kinds = {(c["optim"]["name"], c["noise"]["kind"]) for c in cfgs.values()}
    assert kinds == {
        ("sgd", "none"), ("gd", "none"), ("noisy_gd", "gaussian"),
        ("noisy_gd", "diagonal"), ("noisy_gd", "isotropic"),
    }  # fmt: skip
    settings = {(c["data"]["n_train"], c["batch_size"], c["lr"]) for c in cfgs.values()}
    assert len(settings) == 1  # one comparison: same n, b and eta
    argv = " ".join(noise.argv)
    assert noise.argv[0] == "sweep" and argv.count("--point") == 5
    assert f"--jobs {get_preset('quick').study.jobs}" in argv
    assert noise.done_runs == tuple(tmp_path / "noise" / "train" / n for n in cfgs)
    # every noise run has >= 4 points in its 20 % tail, so its drifts have an SE
    for c in cfgs.values():
        assert 0.2 * c["steps"] / c["track"]["fullbs"]["every"] >= 4


def test_git_revision_is_eoss_own_not_an_enclosing_repository(tmp_path):
    import shutil
    import subprocess

    from eoss.analysis.records.env import env_info, git_revision

    if shutil.which("git") is None:
        pytest.skip("git not installed")
    user = tmp_path / "user-repo"
    (user / "venv" / "site-packages").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(user)], check=True)
    # eoss installed inside the user's repository: not eoss's revision
    assert git_revision(user / "venv" / "site-packages") is None
    assert git_revision(tmp_path / "not-a-repo") is None
    info = env_info()
    assert info["versions"]["eoss"]  # the installed eoss version


def test_download_fills_the_cache_once_with_progress(monkeypatch, tmp_path, capsys):
    import io
    import tarfile

    from eoss.analysis.cli.data_root import ensure_cifar10

    calls = []

    def fake_download(url, dest, *, md5=None, progress=None, **kw):
        calls.append(md5)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name in ("test_batch", "data_batch_1"):
                info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                info.size = 3
                tar.addfile(info, io.BytesIO(b"abc"))
        dest.write_bytes(buf.getvalue())
        progress(len(buf.getvalue()) // 2, len(buf.getvalue()))
        progress(len(buf.getvalue()), len(buf.getvalue()))
        return dest

    monkeypatch.setattr(records, "download_file", fake_download)
    root = tmp_path / "cache" / "eoss"
    assert ensure_cifar10(root) == root
    assert ensure_cifar10(root) == root  # found: no second download
    assert len(calls) == 1 and calls[0]  # checked against the archive's MD5
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py"]
    err = capsys.readouterr().err
    assert f"downloading CIFAR-10 into {root}" in err
    assert "[##########..........]" in err and "[####################]" in err


def test_a_run_finished_by_another_process_after_planning_is_reused(tmp_path):
    """Two reproduce processes on one runs root: the later one must not re-run a
    run the other finished after the plan was made (it used to fail, exit 2)."""
    stages = plan(get_preset("paper-cpu"), tmp_path, tmp_path / "r")
    (st,) = [s for s in stages if s.name == "run b512-seed0"]
    assert st.argv and not st.is_done()  # planned as a fresh run
    st.output.mkdir(parents=True)
    records.write_json(st.output / "status.json", {"status": "finished"})
    assert st.is_done()
