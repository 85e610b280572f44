"""The optional PII scrub: real-looking emails, phone numbers, card numbers and IBANs are replaced
and counted; near misses (an order number failing Luhn, an IBAN failing mod 97, dates, ids) stay."""

from __future__ import annotations

import csv
import json

import pytest

from analysis.ingest.labelled_datasets import ingest_labelled
from analysis.replay.tuning.pii import ScrubReport, iban_valid, luhn_valid, scrub
from analysis.replay.tuning.training_set import TrainingSetSpec, export_training_set


@pytest.mark.parametrize(("text", "expected", "kind"), [
    ("write to jane.doe+billing@example.co.uk today", "write to [EMAIL] today", "email"),
    ("From: ops@sub.mail-host.io", "From: [EMAIL]", "email"),
    ("visa 4111 1111 1111 1111 exp 12/27", "visa [CARD] exp 12/27", "card"),
    ("card 5500-0000-0000-0004.", "card [CARD].", "card"),
    ("amex 378282246310005", "amex [CARD]", "card"),
    ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [IBAN] please", "iban"),
    ("pay GB82WEST12345698765432, thanks", "pay [IBAN], thanks", "iban"),
    ("FR14 2004 1010 0505 0001 3M02 606", "[IBAN]", "iban"),
    ("call +44 20 7946 0958 now", "call [PHONE] now", "phone"),
    ("US office (555) 123-4567", "US office [PHONE]", "phone"),
    ("cell 555-123-4567", "cell [PHONE]", "phone"),
    ("Festnetz 030 1234567", "Festnetz [PHONE]", "phone"),
    ("whatsapp +4915112345678", "whatsapp [PHONE]", "phone"),
])
def test_real_looking_pii_is_replaced_and_counted(text, expected, kind):
    report = ScrubReport()
    assert scrub(text, report) == expected
    assert report.as_dict() == {k: int(k == kind) for k in ("email", "iban", "card", "phone")}


@pytest.mark.parametrize("text", [
    "order 1234567812345678 shipped",          # 16 digits, fails Luhn: an order id, not a card
    "order 1234 5678 1234 5678 shipped",       # the same in groups
    "IBAN DE89 3704 0044 0532 0130 01",        # one digit off: mod 97 fails
    "meeting on 2024-01-31 at 10:30",          # an ISO date
    "due 31.12.2024",                          # a European date
    "ticket 123456789 reopened",               # a bare id
    "server 192.168.100.200 is down",          # an IP address
    "version 10.2.3 and 3.5 mg",               # numbers with dots
    "user@localhost has no domain",            # not an address with a domain
    "price 1 299 EUR",                         # too few digits for a phone
])
def test_near_misses_are_kept(text):
    report = ScrubReport()
    assert scrub(text, report) == text
    assert sum(report.as_dict().values()) == 0


def test_the_checks():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("DE89 3704 0044 0532 0130 00") and not iban_valid("DE89 3704 0044 0532 0130 01")
    assert not iban_valid("DE89")


def test_the_export_scrubs_both_splits_and_reports_the_counts(con, tmp_path):
    tickets = tmp_path / "tickets.csv"
    with tickets.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        for number in range(60):
            writer.writerow([f"t{number}", f"Customer {number} writes from c{number}@example.com, card 4111 1111 1111 1111, "
                                           f"phone +1 415 555 {1000 + number}: please refund order 1234567812345678",
                             "refund"])
    ingest_labelled(con, tickets, "text", "label", id_col="id")
    plain = export_training_set(con, TrainingSetSpec(target="labels"), tmp_path / "plain")
    assert plain.manifest["pii"] == {"enabled": False, "replaced": {}}
    assert "@example.com" in plain.path("train.openai.jsonl").read_text()
    export = export_training_set(con, TrainingSetSpec(target="labels", scrub_pii=True), tmp_path / "scrubbed")
    assert export.manifest["pii"] == {"enabled": True, "replaced": {"email": 60, "iban": 0, "card": 60, "phone": 60}}
    for name in ("train.openai.jsonl", "train.sharegpt.jsonl", "train.alpaca.jsonl", "test.jsonl"):
        text = export.path(name).read_text()
        assert "@example.com" not in text and "4111 1111" not in text and "+1 415" not in text
        assert "1234567812345678" in text  # the order number is not a card
    first = json.loads(export.path("train.alpaca.jsonl").read_text().splitlines()[0])
    assert "[EMAIL], card [CARD], phone [PHONE]:" in first["input"]


def test_tool_call_arguments_are_scrubbed_value_by_value_and_stay_json():
    from analysis.replay.tuning.training_formats import conversation
    from analysis.replay.tuning.training_set import _scrubbed

    answer = json.dumps({"content": None, "tool_calls": [
        {"name": "notify", "arguments": {"to": "ann@example.org", "phone": "+44 20 7946 0958", "order": 1234567812345678,
                                         "card": 4111111111111111, "paid": True, "items": ["call 555-123-4567"]}}]})
    report = ScrubReport()
    conv = _scrubbed(conversation([{"role": "user", "content": "Tell ann@example.org"}], answer), report)
    arguments = json.loads(conv.messages[-1]["tool_calls"][0]["function"]["arguments"])
    assert arguments == {"to": "[EMAIL]", "phone": "[PHONE]", "order": 1234567812345678, "card": "[CARD]",
                         "paid": True, "items": ["call [PHONE]"]}
    assert conv.messages[0]["content"] == "Tell [EMAIL]"
    assert report.as_dict() == {"email": 2, "iban": 0, "card": 1, "phone": 2}
