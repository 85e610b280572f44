import math

from analysis.present import formatting as fmt


def test_compact_numbers_for_people():
    assert fmt.compact(18_460) == "18.5k"
    assert fmt.compact(1_234) == "1.2k"
    assert fmt.compact(950) == "950"
    assert fmt.compact(2_500_000) == "2.5M"
    assert fmt.compact(None) == "–"
    assert fmt.compact(math.nan) == "–"


def test_money():
    assert fmt.usd(1_234) == "$1.2k"
    assert fmt.usd(395.4) == "$395"
    assert fmt.usd(12.345) == "$12.35"
    assert fmt.usd(0.0013) == "$0.0013"
    assert fmt.usd(2e-07) == "$0.0000002" and fmt.usd(0.00045) == "$0.00045"
    assert (fmt.count(1, "row"), fmt.count(0, "row"), fmt.count(1200, "row")) == ("1 row", "0 rows", "1,200 rows")
    assert fmt.usd(0) == "$0"
    assert fmt.usd(-1500) == "-$1.5k"


def test_rates_durations_percentages():
    assert fmt.per_day(18_460) == "18.5k req/day"
    assert fmt.duration_ms(812) == "812 ms"
    assert fmt.duration_ms(1534) == "1.5 s"
    assert fmt.percent(0.753) == "75.3%"
    assert (fmt.percent(1.0), fmt.percent(0.99977), fmt.percent(0.996, 0), fmt.percent(0.0)) == (
        "100.0%", "99.98%", "99.6%", "0.0%")
    assert (fmt.percent(0.00002), fmt.percent(1e-7)) == ("0.002%", "0.0000%")  # at most 3 more decimals
    assert (fmt.percent(sum([0.1] * 10)), fmt.percent(-1e-18)) == ("100.0%", "0.0%")  # float noise
