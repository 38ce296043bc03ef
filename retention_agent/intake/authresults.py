"""Is a mail message from AgII? Only the municipality's own mail server can say: RFC 8601 headers. Pure.

Recognition (a ``From`` address that matches ``*@integratie-inburgering.be``) is not authentication: anyone
can write that address. The receiving mail server checks DKIM signatures and the sender domain's DMARC
policy and writes what it found in an ``Authentication-Results`` header, named by its ``authserv-id``::

    Authentication-Results: mx.gemeente.be; dkim=pass header.d=integratie-inburgering.be;
        dmarc=pass (p=reject) header.from=integratie-inburgering.be

A sender can put such headers in a message too, so only the **topmost** headers from the configured
``authserv-id`` count: headers are added on top as mail travels, and a border server that follows RFC 8601
section 5 removes (or places below its own) headers claiming its name. Concretely: the first
``Authentication-Results`` header with the trusted ``authserv-id`` and the ones directly after it that carry
the same id; a header from that id further down, after one from somebody else, is ignored.

A message is authenticated as AgII's when, in those headers, ``dmarc=pass`` with ``header.from`` equal to the
AgII domain (or, without ``header.from``, a ``From`` address in that domain), or ``dkim=pass`` with
``header.d`` equal to the AgII domain. Comparison is case-insensitive; subdomains do not count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

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
    first = _TOKEN.match(segments[0])
    if first is None:
        return None
    results = []
    for segment in segments[1:]:
        method = _METHOD.match(segment)
        if method is None:
            continue  # "none", or a result this parser does not know: it never authenticates
        rest = segment[method.end():]
        properties = {f"{m[1].lower()}.{m[2].lower()}": _unquote(m[3]).lower() for m in _PROPERTY.finditer(rest)}
        results.append(MethodResult(method[1].lower(), method[2].lower(), properties))
    return AuthResults(_unquote(first[1]).lower(), tuple(results))


def trusted_results(headers: Iterable[str], authserv_id: str) -> list[MethodResult] | None:
    """The results of the topmost run of headers from ``authserv_id``; None when it added none."""
    wanted = authserv_id.strip().lower()
    found: list[MethodResult] = []
    started = False
    for value in headers:
        parsed = parse(value)
        ours = parsed is not None and parsed.authserv_id == wanted
        if ours and parsed is not None:
            started = True
            found.extend(parsed.results)
        elif started:
            break  # anything from that id below another server's header was not written by it
    return found if started else None


def verdict(headers: Iterable[str], *, authserv_id: str, domain: str, from_domain: str) -> tuple[bool, str]:
    """``(authenticated, code)``: whether the trusted server vouches that the message is from ``domain``."""
    results = trusted_results(headers, authserv_id)
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
