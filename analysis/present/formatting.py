"""Numbers formatted for people: $1.2k, 18.5k req/day, 1.3 s. Used by the dashboard and reports."""

from __future__ import annotations

import math

_SUFFIXES = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")]


def compact(value: float | None, digits: int = 1) -> str:
    """1234 -> '1.2k', 18_460 -> '18.5k', 950 -> '950', 0.5 -> '0.5'; None/NaN -> '–'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    for threshold, suffix in _SUFFIXES:
        if abs(value) >= threshold:
            return f"{value / threshold:.{digits}f}".rstrip("0").rstrip(".") + suffix
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.{digits + 1}g}"


def usd(value: float | None) -> str:
    """$1.2k, $395, $0.0013 (small amounts keep two significant digits)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= 1000:
        return f"{sign}${compact(value)}"
    if value >= 1:
        return f"{sign}${value:,.0f}" if value >= 100 else f"{sign}${value:,.2f}"
    if value == 0:
        return "$0"
    if value < 0.01:  # two significant digits, never in exponent notation
        return f"{sign}${value:.{1 - math.floor(math.log10(value))}f}".rstrip("0")
    return f"{sign}${value:.3f}".rstrip("0")


def count(n: int, noun: str) -> str:
    """1 -> '1 row', 1200 -> '1,200 rows' (nouns whose plural adds an s)."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def per_day(value: float | None, unit: str = "req/day") -> str:
    return f"{compact(value)} {unit}"


def duration_ms(value: float | None) -> str:
    """812 -> '812 ms', 1534 -> '1.5 s'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.0f} ms" if value < 1000 else f"{value / 1000:.1f} s"


def percent(value: float | None, digits: int = 1) -> str:
    """`value` (a fraction) in percent with `digits` decimals; a value short of 100% (or of 0%)
    gets up to 3 more decimals rather than read as exactly 100% (0%): "99.98%", not "100.0%".
    Within 1e-9 of a whole number it is that number (sums of float shares)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isclose(value, round(value), abs_tol=1e-9):  # float noise around 0% or 100% is not a share
        value = round(value)
    text = f"{value * 100:.{digits}f}"
    for more in range(digits + 1, digits + 4):
        if not ((abs(float(text)) == 100 and value not in (1, -1)) or (float(text) == 0 and value != 0)):
            break
        text = f"{value * 100:.{more}f}"
    return f"{text}%"
