"""The embedded PostgreSQL's start, when it fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.database import start_embedded
from services.common.errors import Unavailable


def test_a_failed_start_says_which_step_failed_and_where_its_log_is(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "PG_VERSION").write_text("9\n")  # a data folder of a version this server can't run

    with pytest.raises(Unavailable) as raised:
        start_embedded(data)

    message = str(raised.value)
    assert "pg_ctl exited with 1" in message
    assert str(data / "log") in message
