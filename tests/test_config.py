"""Settings read from the environment: the media block's and the media ticker's bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from voxline.config import load_settings


def test_the_media_block_is_40_ms_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOXLINE_MEDIA_BLOCK_MS", raising=False)
    assert load_settings().media_block_ms == 40
    monkeypatch.setenv("VOXLINE_MEDIA_BLOCK_MS", "20")
    assert load_settings().media_block_ms == 20


@pytest.mark.parametrize("value", ["30", "0", "120", "ten"])
def test_a_media_block_is_whole_20_ms_frames_up_to_100_ms(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("VOXLINE_MEDIA_BLOCK_MS", value)
    with pytest.raises(ValidationError, match="media_block_ms"):
        load_settings()


def test_the_media_ticker_has_two_slots_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOXLINE_MEDIA_PHASES", raising=False)
    assert load_settings().media_phases == 2
    monkeypatch.setenv("VOXLINE_MEDIA_PHASES", "1")
    assert load_settings().media_phases == 1


@pytest.mark.parametrize("value", ["0", "9", "two"])
def test_the_media_ticker_has_one_to_eight_slots(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("VOXLINE_MEDIA_PHASES", value)
    with pytest.raises(ValidationError, match="media_phases"):
        load_settings()
