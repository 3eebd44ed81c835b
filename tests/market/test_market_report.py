"""The market report's definitions: the observed monthly interruption rate and the flag."""

import pytest

from spot_cli.market import exceeds, monthly_percent


def test_the_monthly_rate_is_warnings_per_720_instance_hours_in_percent():
    # 1 instance running a whole 30-day month and interrupted once: 100 %.
    assert monthly_percent(1, 720) == 100.0
    # 100 instances for 30 days (72,000 instance-hours), 3 interrupted: 3 %.
    assert monthly_percent(3, 72_000) == pytest.approx(3.0)
    assert monthly_percent(0, 10) == 0.0
    assert monthly_percent(4, 0) is None, "no instance-hours: no rate"


def test_a_pool_is_flagged_only_above_an_upper_bound():
    assert exceeds(5.1, 5.0)
    assert not exceeds(5.0, 5.0), "on the bound is inside the bucket"
    assert not exceeds(90.0, None), "'>20%' has no upper bound"
    assert not exceeds(None, 5.0), "no rate, no flag"
