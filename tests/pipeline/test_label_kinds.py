"""Which tasks of a data set are multi-label."""

from __future__ import annotations

import pytest

from lorkd_kernels.pipeline.label_kinds import multilabel_flags, multilabel_tasks
from tests.pipeline.multilabel_data import tiny_multilabel_tasks


def test_a_data_set_that_does_not_say_has_single_label_tasks_only():
    data = tiny_multilabel_tasks(6)
    del data.multilabel
    assert multilabel_flags(data) == [False, False] and multilabel_tasks(data) == []


def test_the_multilabel_tasks_are_named_from_the_data_sets_flags():
    data = tiny_multilabel_tasks(6)
    assert multilabel_flags(data) == [False, True] and multilabel_tasks(data) == ["chest"]
    data.multilabel = [True]
    with pytest.raises(ValueError, match="marks 1 tasks .* but has 2"):
        multilabel_flags(data)
