"""The versioned training set in SQLite: every change a version; diff and rollback by version."""

from __future__ import annotations

import pytest

from vsearch.classify.errors import ClassifyError
from vsearch.classify.trainset import TrainingSet


def test_versions_diff_rollback(styles_data, tmp_path) -> None:  # noqa: ANN001
    data = styles_data.subset(list(range(200)))
    with TrainingSet(tmp_path / "ts.sqlite") as ts:
        v1 = ts.import_rows(data, "first", author="alice")
        assert v1["version"] == 1 and v1["added"] == 200 and v1["author"] == "alice"
        assert ts.import_rows(data, "again") is None  # nothing changed, no version
        pid = data.ids[5]
        old = data.labels["articleType"][5]
        v2 = ts.relabel(pid, "Kurtas", "wrong type", author="bob")
        assert v2["version"] == 2 and v2["changed"] == 1
        v3 = ts.remove_rows([data.ids[0], data.ids[1]], "duplicates")
        assert v3["rows"] == 198
        d = ts.diff(1, 3)
        assert d["removed"] == sorted(data.ids[:2]) and d["added"] == []
        assert d["changed"] == [{"id": pid, "fields": {"articleType": [old, "Kurtas"]}}]
        assert ts.snapshot(1)[pid]["labels"]["articleType"] == old  # old versions stay readable
        v4 = ts.rollback(1, "undo")
        assert v4["version"] == 4 and v4["added"] == 2 and v4["changed"] == 1
        assert ts.snapshot() == ts.snapshot(1)
        assert [v["reason"] for v in ts.versions()] == ["first", "wrong type", "duplicates", "undo"]


def test_bad_changes_are_refused_and_leave_no_version(styles_data, tmp_path) -> None:  # noqa: ANN001
    data = styles_data.subset(list(range(50)))
    with TrainingSet(tmp_path / "ts.sqlite") as ts:
        ts.import_rows(data, "first")
        with pytest.raises(ClassifyError, match="unknown version 9"):
            ts.rollback(9, "x")
        with pytest.raises(ClassifyError, match="unknown id nope"):
            ts.relabel("nope", "Shirts", "x")
        with pytest.raises(ClassifyError, match="unknown level 'colour'"):
            ts.relabel(data.ids[0], "Red", "x", level="colour")
        with pytest.raises(ClassifyError, match="duplicate id"):
            ts.add_rows(data.subset([3]), "again")
        assert ts.head() == 1


def test_a_failed_transaction_keeps_the_previous_version(styles_data, tmp_path) -> None:  # noqa: ANN001
    data = styles_data.subset(list(range(20)))
    with TrainingSet(tmp_path / "ts.sqlite") as ts:
        ts.import_rows(data, "first")
        before = ts.snapshot()
        bad = {data.ids[0]: {"title": "x", "image": "", "labels": {"a": object()}}}  # not JSON: fails mid-write
        with pytest.raises(TypeError):
            ts.commit(bad, {data.ids[1]}, "broken", "x")
        assert ts.head() == 1 and ts.snapshot() == before
