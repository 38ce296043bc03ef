"""Is a mail message from AgII? Only the municipality's own mail server can say: RFC 8601 headers. Pure.

Recognition (a ``From`` address that matches ``*@integratie-inburgering.be``) is not authentication: anyone
can write that address. The receiving mail server checks DKIM signatures and the sender domain's DMARC
policy and writes what it found in an ``Authentication-Results`` header, named by its ``authserv-id``::

    Authentication-Results: mx.gemeente.be; dkim=pass header.d=integratie-inburgering.be;
        dmarc=pass (p=reject) header.from=integratie-inburgering.be

A sender can put such headers in a message too, so only the **topmost** headers from the configured
``authserv-id`` count: headers are added on top as mail travels, so the sender's own lie below at least the
``Received`` header the receiving server added. Concretely: the first ``Authentication-Results`` header with
the trusted ``authserv-id``, and those directly below it (no other header field in between) with the same
id — a server's DKIM and DMARC milters often add one each. A header from that id further down is ignored.
(A border server that follows RFC 8601 section 5 also removes such headers from incoming mail.)

Exchange Online writes its header without an ``authserv-id`` (``Authentication-Results: spf=pass (sender IP
is ...) smtp.mailfrom=...; dkim=pass ... header.d=...; dmarc=pass action=none header.from=...``). Configure
``authserv_id = "exchange-online"`` there: the topmost headers *without* an ``authserv-id`` then count, by
the same rule. (That is as strong as Exchange Online stamping every message that reaches the mailbox from
outside, which it does; see docs/limitations.md.)

A message is authenticated as AgII's when, in those headers, ``dmarc=pass`` with ``header.from`` equal to the
AgII domain (or, without ``header.from``, a ``From`` address in that domain), or ``dkim=pass`` with
``header.d`` equal to the AgII domain. Comparison is case-insensitive; subdomains do not count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

HEADER = "Authentication-Results"
EXCHANGE_ONLINE = "exchange-online"
"""The configured ``authserv_id`` that stands for Exchange Online's header, which carries none."""
AUTHENTICATED_DMARC = "dmarc-pass"
AUTHENTICATED_DKIM = "dkim-pass"
NO_TRUSTED_HEADER = "no-trusted-header"
NOT_PASSED = "not-passed"

_METHOD = re.compile(r"\s*([A-Za-z0-9_-]+)\s*(?:/\s*\d+\s*)?=\s*([A-Za-z0-9_-]+)")
_VALUE = r'("(?:[^"\\]|\\.)*"|[^\s;"]+)'
_PROPERTY = re.compile(r"([A-Za-z0-9_-]+)\s*\.\s*([A-Za-z0-9_.-]+)\s*=\s*" + _VALUE)
_TOKEN = re.compile(r"\s*" + _VALUE)


@dataclass(frozen=True)
class MethodResult:
    method: str  # lower case: dkim, dmarc, spf, ...
    result: str  # lower case: pass, fail, none, ...
    properties: dict[str, str] = field(default_factory=dict)  # "header.d" -> value (lower case)


@dataclass(frozen=True)
class AuthResults:
    authserv_id: str  # lower case
    results: tuple[MethodResult, ...]


def parse(value: str) -> AuthResults | None:
    """One ``Authentication-Results`` header value; None when it cannot be read."""
    segments = _segments(_without_comments(value))
    if not segments:
        return None
    if _METHOD.fullmatch(segments[0].split()[0]) is not None:  # no authserv-id: Exchange Online's form
        authserv_id, results_from = "", segments
    else:
        first = _TOKEN.match(segments[0])
        if first is None:
            return None
        authserv_id, results_from = _unquote(first[1]).lower(), segments[1:]
    results = []
    for segment in results_from:
        method = _METHOD.match(segment)
        if method is None:
            continue  # "none", or a result this parser does not know: it never authenticates
        rest = segment[method.end():]
        properties = {f"{m[1].lower()}.{m[2].lower()}": _unquote(m[3]).lower() for m in _PROPERTY.finditer(rest)}
        results.append(MethodResult(method[1].lower(), method[2].lower(), properties))
    return AuthResults(authserv_id, tuple(results))


def trusted_results(fields: Iterable[tuple[str, str]], authserv_id: str) -> list[MethodResult] | None:
    """The results of the topmost run of headers from ``authserv_id``; None when it added none.

    ``fields`` is every header field of the message as ``(name, value)``, top first.
    """
    wanted = authserv_id.strip().lower()
    wanted = "" if wanted == EXCHANGE_ONLINE else wanted
    found: list[MethodResult] = []
    started = False
    for name, value in fields:
        parsed = parse(value) if name.lower() == HEADER.lower() else None
        if parsed is not None and parsed.authserv_id == wanted:
            started = True
            found.extend(parsed.results)
        elif started:
            break  # below another header field (the server's own Received, at the latest): not the server's
    return found if started else None


def verdict(fields: Iterable[tuple[str, str]], *, authserv_id: str, domain: str,
            from_domain: str) -> tuple[bool, str]:
    """``(authenticated, code)``: whether the trusted server vouches that the message is from ``domain``."""
    results = trusted_results(fields, authserv_id)
    if results is None:
        return False, NO_TRUSTED_HEADER
    wanted = _domain(domain)
    for result in results:
        if result.result != "pass":
            continue
        if result.method == "dmarc" and _domain(result.properties.get("header.from", from_domain)) == wanted:
            return True, AUTHENTICATED_DMARC
        if result.method == "dkim" and _domain(result.properties.get("header.d", "")) == wanted:
            return True, AUTHENTICATED_DKIM
    return False, NOT_PASSED


def _domain(text: str) -> str:
    return text.strip().strip(".").lower()


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _without_comments(text: str) -> str:
    """Drop RFC 5322 comments (nested parentheses, quoted pairs), keeping quoted strings whole."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if quoted:
            quoted = char != '"'
            out.append(char)
        elif char == '"' and depth == 0:
            quoted = True
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            out.append(" ")
        elif depth == 0:
            out.append(char)
    return "".join(out)


def _segments(text: str) -> list[str]:
    """Split on ``;`` outside quoted strings; empty segments are dropped."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]
