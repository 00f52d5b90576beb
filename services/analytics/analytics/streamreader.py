"""Reading whole streams fast: nats-py's per-message work made cheaper for a rebuild.

Most of a rebuild's time is nats-py turning each message into a Msg; most of that was its
header parser. `ReplayClient` parses the same headers about four times faster, and
`stream_sequence` reads a delivery's stream sequence without building Msg.Metadata.
(Reading in a child process while the parent folds was tried and measured: no faster on
this 2-core machine under load, where both halves compete for the same cores.)
"""

from __future__ import annotations

import re
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg

_WHITESPACE = re.compile(r"\s")  # exactly the characters str.isspace() accepts


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """NATS header lines (`Name: Value` CRLF-separated) to a dict, as nats-py 2.16 does.

    Same rules and result as `nats.aio.client.Client._parse_header_lines` (a test holds them
    equal over random input), whose per-character `any(c.isspace() for c in key)` made header
    parsing the largest single cost of reading a stream (every event carries five headers).
    Names repeat from message to message, so each raw name is checked once (`_header_name`).
    """
    out: dict[str, str] = {}
    names = _HEADER_NAMES
    for line in raw.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = names.get(name, _UNSEEN)
        if key is _UNSEEN:
            key = _header_name(name)
        if key is not None:
            out[key] = value.strip().decode("utf-8", "replace")
    return out


_UNSEEN = object()
#: raw header name -> its key, or None when nats-py skips it; bounded, first come first kept.
_HEADER_NAMES: dict[bytes, Any] = {}
_HEADER_NAMES_MAX = 256


def _header_name(name: bytes) -> str | None:
    """The key of a raw header name: stripped ASCII without inner whitespace, else None."""
    try:
        key: str | None = name.strip().decode("ascii")
    except UnicodeDecodeError:
        key = None  # a malformed name: skipped, like nats-py does
    if key is not None and _WHITESPACE.search(key) is not None:
        key = None
    if len(_HEADER_NAMES) < _HEADER_NAMES_MAX:
        _HEADER_NAMES[name] = key
    return key


class ReplayClient(Client):
    """A nats-py client with the faster header parser above, for connections that read
    whole streams (a rebuild). Use as `nc = ReplayClient(); await nc.connect(url, ...)`.

    It overrides a private method of nats-py 2.16: should a later version rename it, the
    override does nothing (still correct, only slower) and the parser test fails, saying so.
    """

    _parse_header_lines = staticmethod(parse_header_lines)


def stream_sequence(msg: Msg) -> int:
    """The stream sequence of a JetStream delivery, from its reply subject.

    `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>`
    (what nats-py's ordered consumer reads too): token 5, without building Msg.Metadata
    (a dataclass and a datetime per message). Other forms (with a domain) go the long way.
    """
    tokens = msg.reply.split(".")
    if len(tokens) == 9:
        return int(tokens[5])
    return int(msg.metadata.sequence.stream)
