"""Phone numbers in one canonical form (E.164), so a text from +1 617-555-0101 matches the ATS."""

from __future__ import annotations

import phonenumbers


def normalise_phone(raw: str | None, default_region: str = "US") -> str | None:
    """Return the number in E.164 form ("+16175550101"), or None when it is not a valid number."""
    if not raw or not raw.strip():
        return None
    try:
        parsed = phonenumbers.parse(raw.strip(), default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def region_of(phone_e164: str) -> str | None:
    """The ISO country code a number belongs to ("US", "GB"), used later for time-zone hints."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone_e164))
    except phonenumbers.NumberParseException:
        return None
