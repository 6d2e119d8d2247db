"""The metrics.jsonl row types are the schema: the loop emits what they declare."""

import dataclasses

import pytest

from eoss.analysis.cli.overrides import apply_overrides
from eoss.empirical.training.config import TrainConfig
from eoss.empirical.training.loop import run
from eoss.empirical.training.presets import preset
from eoss.empirical.training.rows import (
    COLUMN_TABLES,
    COLUMNS,
    EVENT_KINDS,
    ROW_TYPE,
    ROW_TYPES,
    TABLES,
    EventRow,
    TrainRow,
)


def _emitted(*sets):
    cfg = apply_overrides(TrainConfig, preset("test"), list(sets))
    rows = []
    hist = run(cfg, on_record=lambda t, r: rows.append((t, dict(r))))
    return hist, rows


@pytest.fixture(scope="module")
def emitted():
    """Every measurement on, an η change at step 40 (an ``lr`` event)."""
    return _emitted(
        "steps=60",
        "track.ntk.every=30",
        "schedule.lr_at=40",
        "schedule.lr_values=0.03",
    )


def test_every_emitted_row_has_exactly_the_declared_columns(emitted):
    hist, rows = emitted
    assert hist.status == "finished"
    assert {t for t, _ in rows} == set(TABLES)  # every table is written
    for table, row in rows:
        optional = ROW_TYPE[table].optional
        declared = tuple(c for c in COLUMNS[table] if c in row or c not in optional)
        assert tuple(row) == declared, table  # same keys, same order


def test_diverged_event_carries_its_reason():
    hist, rows = _emitted("steps=30", "lr=50")
    assert hist.status == "diverged"
    table, last = rows[-1]
    assert table == "event" and last["kind"] == "diverged"
    assert tuple(last) == COLUMNS["event"] and last["reason"] == hist.reason
    assert EventRow.optional == ("reason",) == COLUMNS["event"][-1:]


def test_tables_and_columns_are_declared_once():
    assert len(set(TABLES)) == len(TABLES) == len(ROW_TYPES)
    assert tuple(t for t in TABLES if t != "event") == COLUMN_TABLES
    for cls in ROW_TYPES:
        assert dataclasses.is_dataclass(cls) and cls.columns()[0] == "step"
        assert cls.__dataclass_params__.frozen


def test_record_is_the_fields_in_order():
    row = TrainRow(step=3, lr=0.1, batch_size=8, loss=1.5)
    assert row.record() == {"step": 3, "lr": 0.1, "batch_size": 8, "loss": 1.5}
    assert list(row.record()) == list(COLUMNS["train"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.lr = 0.2  # type: ignore[misc]


def test_event_kinds_and_optional_reason():
    assert EventRow(5, "resume", 9, 5).record() == {
        "step": 5,
        "kind": "resume",
        "old": 9,
        "new": 5,
    }
    assert EventRow(5, "diverged", None, None, "nan").record()["reason"] == "nan"
    assert set(EVENT_KINDS) == {
        "lr", "batch_size", "resume", "fork", "diverged", "stop"
    }
    with pytest.raises(ValueError, match="unknown event kind"):
        EventRow(0, "restart", None, None)
