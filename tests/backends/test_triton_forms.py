"""backends.triton_forms: the triton conv's form from LORKD_TRITON_STRATEGY or the
``triton_strategy`` block, checked before any kernel runs."""

from __future__ import annotations

import pytest

from lorkd_kernels.backends import triton_forms, triton_strategy


def test_default_is_auto(monkeypatch):
    monkeypatch.delenv(triton_forms.ENV, raising=False)
    assert triton_forms.current() == "auto"


def test_environment_and_block_accept_auto(monkeypatch):
    monkeypatch.setenv(triton_forms.ENV, "auto")
    assert triton_forms.current() == "auto"
    with triton_strategy("fused"):
        with triton_strategy("auto"):
            assert triton_forms.current() == "auto"
        assert triton_forms.current() == "fused"


def test_environment_chooses_split(monkeypatch):
    monkeypatch.setenv(triton_forms.ENV, " Split ")
    assert triton_forms.current() == "split"


def test_block_overrides_the_environment_and_restores(monkeypatch):
    monkeypatch.setenv(triton_forms.ENV, "split")
    with triton_strategy("fused"):
        assert triton_forms.current() == "fused"
    assert triton_forms.current() == "split"


def test_unknown_environment_value_names_the_variable(monkeypatch):
    monkeypatch.setenv(triton_forms.ENV, "merged")
    with pytest.raises(ValueError, match=r"LORKD_TRITON_STRATEGY='merged' is not a triton "
                                         r"strategy; choose one of auto, fused, split"):
        triton_forms.current()


def test_unknown_block_name_is_an_error_before_the_block(monkeypatch):
    monkeypatch.delenv(triton_forms.ENV, raising=False)
    with pytest.raises(ValueError, match=r"triton_strategy='cudnn' is not a triton strategy; "
                                         r"choose one of auto, fused, split"):
        with triton_strategy("cudnn"):
            pass
    assert triton_forms.current() == "auto"
