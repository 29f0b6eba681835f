"""Settings read from the environment: the media block's bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from voxline.config import load_settings


def test_the_media_block_is_20_ms_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOXLINE_MEDIA_BLOCK_MS", raising=False)
    assert load_settings().media_block_ms == 20
    monkeypatch.setenv("VOXLINE_MEDIA_BLOCK_MS", "40")
    assert load_settings().media_block_ms == 40


@pytest.mark.parametrize("value", ["30", "0", "120", "ten"])
def test_a_media_block_is_whole_20_ms_frames_up_to_100_ms(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("VOXLINE_MEDIA_BLOCK_MS", value)
    with pytest.raises(ValidationError, match="media_block_ms"):
        load_settings()
