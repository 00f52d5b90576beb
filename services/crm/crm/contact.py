"""Normalization and validation of a customer's contact data (pure: no I/O, no crypto).

- Names: trimmed, inner whitespace collapsed to one space, 1-200 characters, no control
  characters.
- Email: trimmed; the domain lower-cased (IDNA-encoded when not ASCII); the local part kept as
  typed. A basic RFC 5322 shape check (dot-atom local part of at most 64 characters, a domain of
  at least two labels with an alphabetic TLD, 254 characters in all). The *lookup* form
  (`email_lookup_key`) also lower-cases the local part: nearly every provider treats it
  case-insensitively, and a lookup must not miss "Ana@example.com" for "ana@example.com".
- Phone: E.164. Spaces, dashes, dots, slashes and parentheses are dropped; a leading "00" is
  read as "+". A number starting with "+" must have 7 to 15 digits and a country code not
  starting with 0. A national number (no "+") is accepted only when a default country code is
  given (Customers(default_country_code="49")): one leading trunk "0" is dropped and the
  country code prefixed ("030 555000" -> "+4930555000"). Without one it is refused.

Invalid input raises InvalidCustomerError; messages do not echo email addresses or numbers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from crm.domainmodel import InvalidCustomerError

MAX_NAME = 200
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^([a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
_PHONE_JUNK = re.compile(r"[\s\-./()]")
_COUNTRY_CODE = re.compile(r"^[1-9][0-9]{0,2}$")


@dataclass(frozen=True)
class Contact:
    """A customer's normalized name, email and phone ("" when not given)."""

    name: str
    email: str = ""
    phone: str = ""


def normalize_name(name: str) -> str:
    if not isinstance(name, str):
        raise InvalidCustomerError("a customer's name must be text")
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidCustomerError("a customer needs a name")
    if len(cleaned) > MAX_NAME:
        raise InvalidCustomerError(f"a name has at most {MAX_NAME} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in cleaned):
        raise InvalidCustomerError("a name must not contain control characters")
    return cleaned


def normalize_email(email: str) -> str:
    """The email as stored ("" stays ""): domain lower-cased, local part as typed."""
    if not isinstance(email, str):
        raise InvalidCustomerError("an email must be text")
    email = email.strip()
    if not email:
        return ""
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise InvalidCustomerError("an email must look like name@domain.tld")
    if len(local) > 64 or not _LOCAL.match(local):
        raise InvalidCustomerError("the part of an email before @ is not valid")
    try:
        domain = domain.lower().encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidCustomerError("the domain of an email is not valid") from exc
    labels = domain.split(".")
    if (len(labels) < 2 or not all(_LABEL.match(label) for label in labels)
            or not _TLD.match(labels[-1])):
        raise InvalidCustomerError("the domain of an email is not valid")
    normalized = f"{local}@{domain}"
    if len(normalized) > 254:
        raise InvalidCustomerError("an email has at most 254 characters")
    return normalized


def email_lookup_key(email: str) -> str:
    """The form the blind index hashes: the normalized email, wholly lower-cased."""
    normalized = normalize_email(email)
    return normalized.lower()


def normalize_phone(phone: str, default_country_code: str | None = None) -> str:
    """The phone in E.164 ("+4930555000"; "" stays "")."""
    if not isinstance(phone, str):
        raise InvalidCustomerError("a phone number must be text")
    compact = _PHONE_JUNK.sub("", phone)
    if not compact:
        return ""
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+"):
        if not default_country_code:
            raise InvalidCustomerError(
                "a phone number needs its country code (+49...)")
        if not _COUNTRY_CODE.match(default_country_code):
            raise InvalidCustomerError("the default country code must be 1-3 digits")
        national = compact[1:] if compact.startswith("0") else compact
        compact = f"+{default_country_code}{national}"
    digits = compact[1:]
    if not digits.isascii() or not digits.isdigit():
        raise InvalidCustomerError("a phone number may only hold digits after the +")
    if not 7 <= len(digits) <= 15 or digits.startswith("0"):
        raise InvalidCustomerError(
            "a phone number must be +, a country code and 7-15 digits in all (E.164)")
    return compact


def normalize_contact(
    name: str, email: str = "", phone: str = "", default_country_code: str | None = None
) -> Contact:
    """Validate and normalize all three; raises InvalidCustomerError on the first bad one."""
    return Contact(
        name=normalize_name(name),
        email=normalize_email(email or ""),
        phone=normalize_phone(phone or "", default_country_code),
    )
