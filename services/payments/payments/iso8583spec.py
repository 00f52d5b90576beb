"""Tillstream's ISO 8583 dialect: the spec for `pyiso8583`, framing and field helpers.

One module owns the wire format so the acquirer link and the acquirer simulator can never
disagree about it. The spec starts from pyiso8583's `default_ascii` (ASCII MTI, hex ASCII
bitmaps, ASCII fields) and pins down the fields we use:

  2 PAN (LLVAR n..19)        3 processing code         4 amount, minor units (n12)
  7 transmission MMDDhhmmss  11 STAN (n6)              12/13 local time hhmmss / date MMDD
  14 expiry YYMM             15 settlement date MMDD   37 RRN (an12)
  38 auth code (an6)         39 response code (an2)    41 terminal id (ans8)
  42 merchant/store id (ans15, space padded)           49 currency, numeric ISO 4217 (n3)
  52 PIN block (16 hex)      66 settlement code        70 network management code
  76/77 debits count / reversal count (n10)            88/89 debits / reversal amount (n16)
  90 original data elements (n42): MTI(4) STAN(6) transmission(10) acquirer(11) forwarder(11)

Messages: 0100/0110 authorization, 0200/0210 financial (sale), 0220/0230 completion advice,
0400/0410 reversal, 0500/0510 reconciliation, 0800/0810 network management (echo).

A referenced refund is a 0200 with processing code 20 (`PROCESSING_REFUND`): field 90 names the
approved original (no PAN is sent: the acquirer has the card of its original), field 4 the
amount to give back, and field 37 a retrieval reference number *we* assign once per refund and
keep: it is the refund's idempotency key at the acquirer, so a refund sent again (after a
timeout, or a crash before its answer was recorded) is answered as the same refund, never paid
twice. A void of a held authorization is a 0400 reversal of the original.

Frames on TCP: a 2-byte big-endian length, then the message.

PIN blocks (test convention, shared with the simulator): ISO 9564 format 0, *in clear*
(PIN field XOR PAN field, no encryption key): the simulator can recover the PIN and checks it
against `TEST_CORRECT_PIN`. A real link would encrypt under a zone PIN key; the block is never
logged or stored either way.
"""

from __future__ import annotations

import asyncio
import copy
import struct
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import iso8583
from iso8583.specs import default_ascii

# --- the spec ---------------------------------------------------------------------------------

SPEC: dict[str, dict[str, Any]] = copy.deepcopy(default_ascii)
# default_ascii already has the sizes we want for these; restating the ones we rely on keeps a
# future pyiso8583 default change from silently changing our wire format.
_FIXED = {
    "3": 6,
    "4": 12,
    "7": 10,
    "11": 6,
    "12": 6,
    "13": 4,
    "14": 4,
    "15": 4,
    "22": 3,
    "37": 12,
    "38": 6,
    "39": 2,
    "41": 8,
    "42": 15,
    "49": 3,
    "52": 16,
    "66": 1,
    "70": 3,
    "76": 10,
    "77": 10,
    "88": 16,
    "89": 16,
    "90": 42,
}
for _field, _size in _FIXED.items():
    SPEC[_field].update(data_enc="ascii", len_enc="ascii", len_type=0, max_len=_size)
SPEC["2"].update(data_enc="ascii", len_enc="ascii", len_type=2, max_len=19)
SPEC["42"]["desc"] = "Card Acceptor ID Code (store id)"

AUTHORIZATION = "0100"
AUTHORIZATION_RESPONSE = "0110"
FINANCIAL = "0200"
FINANCIAL_RESPONSE = "0210"
COMPLETION_ADVICE = "0220"
COMPLETION_ADVICE_RESPONSE = "0230"
REVERSAL = "0400"
REVERSAL_RESPONSE = "0410"
RECONCILIATION = "0500"
RECONCILIATION_RESPONSE = "0510"
NETWORK = "0800"
NETWORK_RESPONSE = "0810"

REQUEST_MTIS = (AUTHORIZATION, FINANCIAL, COMPLETION_ADVICE, REVERSAL, RECONCILIATION, NETWORK)
RESPONSE_MTI = {
    AUTHORIZATION: AUTHORIZATION_RESPONSE,
    FINANCIAL: FINANCIAL_RESPONSE,
    COMPLETION_ADVICE: COMPLETION_ADVICE_RESPONSE,
    REVERSAL: REVERSAL_RESPONSE,
    RECONCILIATION: RECONCILIATION_RESPONSE,
    NETWORK: NETWORK_RESPONSE,
}

PROCESSING_PURCHASE = "000000"
#: Field 3 of a referenced refund (a 0200 naming its original in field 90; see the docstring).
PROCESSING_REFUND = "200000"
#: Field 22 (POS entry mode) of a mobile wallet payment scanned from a QR code: "03" (bar code
#: / QR), "0" (no PIN entry capability). Card payments do not send field 22 at all.
ENTRY_MODE_WALLET_QR = "030"
PROCESSING_RECONCILIATION = "920000"
NETWORK_ECHO = "301"

RESPONSE_REASONS = {
    "00": "approved",
    "05": "do not honor",
    "13": "invalid amount",
    "14": "invalid card number",
    "25": "original not found",
    "30": "format error",
    "51": "insufficient funds",
    "54": "expired card",
    "55": "incorrect PIN",
    "57": "transaction not permitted to cardholder",
    "75": "PIN tries exceeded",
    "91": "issuer unavailable",
    "96": "system malfunction",
}

# The simulator's correct PIN for every test card (see the module docstring).
TEST_CORRECT_PIN = "1234"

# --- currencies -------------------------------------------------------------------------------

CURRENCY_NUMERIC = {
    "EUR": "978",
    "USD": "840",
    "GBP": "826",
    "CHF": "756",
    "SEK": "752",
    "DKK": "208",
    "NOK": "578",
    "PLN": "985",
    "JPY": "392",
}
CURRENCY_ALPHA = {numeric: alpha for alpha, numeric in CURRENCY_NUMERIC.items()}


class Iso8583FormatError(ValueError):
    """A value cannot be put on (or read from) the wire in our dialect."""


def currency_to_numeric(alpha: str) -> str:
    """ISO 4217 alpha code -> numeric code, e.g. EUR -> 978."""
    try:
        return CURRENCY_NUMERIC[alpha.upper()]
    except KeyError:
        raise Iso8583FormatError(f"unsupported currency {alpha!r}") from None


def currency_from_numeric(numeric: str) -> str:
    """ISO 4217 numeric code -> alpha code, e.g. 978 -> EUR."""
    try:
        return CURRENCY_ALPHA[numeric]
    except KeyError:
        raise Iso8583FormatError(f"unsupported currency code {numeric!r}") from None


# --- field helpers ----------------------------------------------------------------------------


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits, the rest as '*': the only form of a PAN we log or write."""
    if len(pan) < 11:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def luhn_valid(pan: str) -> bool:
    """True when the digits pass the Luhn (mod 10) check."""
    if not pan.isdigit() or len(pan) < 12:
        return False
    total = 0
    for index, char in enumerate(reversed(pan)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def format_amount(amount_minor: int) -> str:
    """Integer minor units -> n12."""
    if amount_minor < 0 or amount_minor >= 10**12:
        raise Iso8583FormatError("amount out of range")
    return f"{amount_minor:012d}"


def expiry_to_yymm(expiry: str) -> str:
    """Accepts 'MM/YY' (the application's form) or 'YYMM' and returns field 14's YYMM."""
    if "/" in expiry:
        month, _, year = expiry.partition("/")
        text = f"{year[-2:]:0>2}{month:0>2}"
    else:
        text = expiry
    if len(text) != 4 or not text.isdigit() or not 1 <= int(text[2:]) <= 12:
        raise Iso8583FormatError("expiry must be MM/YY or YYMM")
    return text


def yymm_expired(yymm: str, today: date) -> bool:
    """A card is good to the end of its expiry month."""
    try:
        year, month = 2000 + int(yymm[:2]), int(yymm[2:])
    except ValueError:
        return True
    return (year, month) < (today.year, today.month)


def transmission_fields(now: datetime | None = None) -> dict[str, str]:
    """Fields 7 (UTC), 12 and 13 for a request sent now."""
    now = now or datetime.now(UTC)
    return {
        "7": now.strftime("%m%d%H%M%S"),
        "12": now.strftime("%H%M%S"),
        "13": now.strftime("%m%d"),
    }


@dataclass(frozen=True)
class OriginalData:
    """Field 90: which request a reversal (or advice) refers to."""

    mti: str
    stan: str
    transmission: str
    acquirer_id: str = "0" * 11
    forwarder_id: str = "0" * 11

    def encode(self) -> str:
        return f"{self.mti}{self.stan}{self.transmission}{self.acquirer_id}{self.forwarder_id}"

    @classmethod
    def decode(cls, text: str) -> OriginalData:
        if len(text) != 42 or not text.isdigit():
            raise Iso8583FormatError("field 90 must be 42 digits")
        return cls(text[:4], text[4:10], text[10:20], text[20:31], text[31:42])


def _pan_field(pan: str) -> int:
    # ISO 9564 format 0: the 12 rightmost PAN digits excluding the check digit.
    return int("0000" + pan[-13:-1], 16)


def pin_block(pin: str, pan: str) -> str:
    """ISO 9564 format 0 PIN block (clear, see module docstring) as 16 hex digits."""
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise Iso8583FormatError("PIN must be 4 to 12 digits")
    pin_field = int(f"0{len(pin):X}{pin}".ljust(16, "F"), 16)
    return f"{pin_field ^ _pan_field(pan):016X}"


def pin_from_block(block: str, pan: str) -> str | None:
    """The PIN inside a format-0 block, or None when the block is malformed."""
    try:
        clear = f"{int(block, 16) ^ _pan_field(pan):016X}"
    except ValueError:
        return None
    if clear[0] != "0":
        return None
    length = int(clear[1], 16)
    pin = clear[2 : 2 + length]
    if not 4 <= length <= 12 or not pin.isdigit() or set(clear[2 + length :]) - {"F"}:
        return None
    return pin


# --- pack / unpack / framing ------------------------------------------------------------------


def pack(fields: Mapping[str, str]) -> bytes:
    """A dict of field number -> str (and 't' for the MTI) -> message bytes (no length)."""
    doc: MutableMapping[str, str] = dict(fields)
    try:
        raw, _ = iso8583.encode(doc, SPEC)
    except iso8583.EncodeError as error:
        # pyiso8583's message may quote field data (a PAN): keep only the field number.
        raise Iso8583FormatError(f"cannot encode field {getattr(error, 'field', '?')}") from None
    return bytes(raw)


def unpack(raw: bytes) -> dict[str, str]:
    """Message bytes -> dict of field number -> str ('t' MTI, 'p'/'1' bitmaps included)."""
    try:
        decoded, _ = iso8583.decode(raw, SPEC)
    except iso8583.DecodeError as error:
        raise Iso8583FormatError(f"cannot decode field {getattr(error, 'field', '?')}") from None
    return decoded


_LENGTH = struct.Struct(">H")
MAX_MESSAGE = 0xFFFF


def frame(message: bytes) -> bytes:
    """Prefix a message with its 2-byte big-endian length."""
    if len(message) > MAX_MESSAGE:
        raise Iso8583FormatError("message too long for a 2-byte length")
    return _LENGTH.pack(len(message)) + message


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """The next message from a stream; raises asyncio.IncompleteReadError at EOF."""
    header = await reader.readexactly(2)
    (length,) = _LENGTH.unpack(header)
    return await reader.readexactly(length)
