"""Settings read from OSDEPOT_* variables: numbers as numbers, bad ones refused clearly."""

from __future__ import annotations

import pytest

from osdepot.config import Settings
from osdepot.errors import ConfigError


def test_numbers_and_switches_are_read() -> None:
    s = Settings.from_env(
        {
            "OSDEPOT_HOUSEKEEPING_INTERVAL": "2.5",
            "OSDEPOT_ORPHAN_GRACE": "0",
            "OSDEPOT_ORPHAN_SWEEP_INTERVAL": "600",
            "OSDEPOT_MAX_IMAGES": "12",
            "OSDEPOT_DIRECT_IO": "off",
        }
    )
    assert (s.housekeeping_interval, s.orphan_grace, s.orphan_sweep_interval) == (2.5, 0, 600)
    assert s.max_images == 12 and s.direct_io is False
    assert Settings.from_env({}).orphan_grace == 6 * 3600  # the defaults, unset


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("ORPHAN_GRACE", "soon"),
        ("ORPHAN_GRACE", "-5"),
        ("HOUSEKEEPING_INTERVAL", "nan"),
        ("HOUSEKEEPING_INTERVAL", "inf"),
        ("MAX_IMAGES", "-1"),
        ("MAX_IMAGES", "1.5"),
        ("DIRECT_IO", "maybe"),
    ],
)
def test_a_bad_value_is_refused_with_its_name(name: str, raw: str) -> None:
    with pytest.raises(ConfigError) as e:
        Settings.from_env({f"OSDEPOT_{name}": raw})
    assert f"OSDEPOT_{name}={raw!r} is not a valid" in str(e.value)
