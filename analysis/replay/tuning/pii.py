"""Optional PII scrub of training texts: emails, card numbers, IBANs and phone numbers are replaced
by placeholders, and what was replaced is counted per kind.

Rules, applied in this order (a span replaced by one rule is not seen by the next):
- EMAIL `[EMAIL]`: local@domain.tld (local: letters, digits, `._%+-`; a dot-separated domain
  whose last label has >= 2 letters).
- IBAN `[IBAN]`: two letters, two check digits and 11 to 30 letters or digits (spaces allowed
  between groups of four), whose ISO 13616 check holds: moved country code and check digits to
  the end, letters as 10..35, the number mod 97 equals 1.
- CARD `[CARD]`: 13 to 19 digits, optionally in groups separated by single spaces or hyphens,
  that pass the Luhn check (ISO/IEC 7812-1), not preceded by `+` or an IBAN's country code and
  check digits. A 16-digit order number failing Luhn is kept.
- PHONE `[PHONE]`: 7 to 15 digits (ITU-T E.164 allows at most 15) in groups separated by spaces,
  dots, hyphens or a parenthesised area code, that either start with `+` (international form),
  open with a parenthesised area code, start with a trunk `0`, or are written 3-3-4 (the North
  American plan). A bare run of digits without separators is an id, not a phone; ISO dates
  (2024-01-31) and times are not phones.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}(?![\w-])")
CARD = re.compile(r"(?<![\w+-])(?<![A-Z]{2}\d{2} )\d(?:[ -]?\d){12,18}(?![\w-])")
IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{1,5}(?:[ .-]\d{1,8}){1,5}(?![\w-])"
                   r"|(?<![\w+])\+\d{7,15}(?!\w)")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")
NORTH_AMERICAN = re.compile(r"^\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}$")
KINDS = ("email", "iban", "card", "phone")  # the order the rules apply in
PLACEHOLDERS = {"email": "[EMAIL]", "card": "[CARD]", "iban": "[IBAN]", "phone": "[PHONE]"}


def luhn_valid(digits: str) -> bool:
    """The Luhn check: from the right, double every second digit (minus 9 above 9); the sum is
    divisible by 10."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """ISO 13616 / ISO 7064 mod 97-10: the first four characters moved to the end, letters
    replaced by 10..35, the number mod 97 is 1."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _is_card(match: re.Match) -> bool:
    digits = re.sub(r"\D", "", match.group())
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _iban_length(match: re.Match) -> int:
    """Characters of the match that form a valid IBAN: the longest prefix ending at a group
    boundary that passes the check (the pattern may run on into a following word), else 0."""
    text = match.group()
    ends = [m.start() for m in re.finditer(" ", text)] + [len(text)]
    for end in sorted(ends, reverse=True):
        if iban_valid(text[:end]):
            return end
    return 0


def _is_phone(match: re.Match) -> bool:
    text = match.group()
    digits = re.sub(r"\D", "", text)
    if not 7 <= len(digits) <= 15 or ISO_DATE.fullmatch(text):
        return False
    if text.startswith("+"):  # international form, with or without separators
        return True
    if text.isdigit():  # a bare run of digits: an id
        return False
    return text.startswith("(") or digits.startswith("0") or bool(NORTH_AMERICAN.match(text))


@dataclass
class ScrubReport:
    """Replacements per kind (email, card, iban, phone) over every scrubbed text."""

    replaced: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, int]:
        return {kind: self.replaced.get(kind, 0) for kind in KINDS}


def _matched_length(kind: str, match: re.Match) -> int:
    """How many characters of a pattern's match are PII of that kind (0: none)."""
    if kind == "iban":
        return _iban_length(match)
    valid = kind == "email" or (_is_card(match) if kind == "card" else _is_phone(match))
    return len(match.group()) if valid else 0


PATTERNS = {"email": EMAIL, "card": CARD, "iban": IBAN, "phone": PHONE}


def scrub(text: str, report: ScrubReport | None = None) -> str:
    """`text` with every email, card number, IBAN and phone number (module rules) replaced by its
    placeholder; each replacement is counted in `report`."""
    for kind in KINDS:
        def replace(match: re.Match, kind: str = kind) -> str:
            length = _matched_length(kind, match)
            if not length:
                return match.group()
            if report is not None:
                report.replaced[kind] += 1
            return PLACEHOLDERS[kind] + match.group()[length:]
        text = PATTERNS[kind].sub(replace, text)
    return text


def scrub_value(value, report: ScrubReport | None = None):
    """A decoded JSON value (tool-call arguments) with `scrub` applied to every string, and every
    integer that is a card number (13 to 19 digits, Luhn) replaced by "[CARD]"; keys are kept."""
    if isinstance(value, str):
        return scrub(value, report)
    if isinstance(value, dict):
        return {key: scrub_value(item, report) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_value(item, report) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and 13 <= len(str(abs(value))) <= 19 \
            and luhn_valid(str(abs(value))):
        if report is not None:
            report.replaced["card"] += 1
        return PLACEHOLDERS["card"]
    return value
