"""Schemathesis hooks for the bookstore contracts: generators for the two custom string formats the payment
documents use, so that schema-valid requests are valid cards (Luhn digit, an expiry not in the past) rather than
random digits the service must refuse.

    SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH=Conformance/contracts schemathesis run …

`payment-card-number`: 13–19 digits passing the Luhn check, optionally grouped by spaces or hyphens.
`card-expiry`: MM/YY from the current month (UTC) up to ten years ahead.
ContractKit's validator (Conformance/Sources/ContractKit/StringFormat.swift) checks the same two formats.
"""
from datetime import datetime, timezone

import schemathesis
from hypothesis import strategies as st


def luhn_check_digit(payload: str) -> str:
    total = 0
    for index, char in enumerate(reversed(payload)):
        value = int(char)
        if index % 2 == 0:  # doubled: these sit in odd positions once the check digit is appended
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


@st.composite
def card_numbers(draw):
    length = draw(st.integers(min_value=13, max_value=19))
    payload = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    number = payload + luhn_check_digit(payload)
    separator = draw(st.sampled_from(["", " ", "-"]))
    if separator:
        number = separator.join(number[i:i + 4] for i in range(0, len(number), 4))
    return number


@st.composite
def card_expiries(draw):
    now = datetime.now(timezone.utc)
    months_ahead = draw(st.integers(min_value=0, max_value=119))
    absolute = now.year * 12 + (now.month - 1) + months_ahead
    year, month = divmod(absolute, 12)
    return f"{month + 1:02d}/{year % 100:02d}"


schemathesis.openapi.format("payment-card-number", card_numbers())
schemathesis.openapi.format("card-expiry", card_expiries())
