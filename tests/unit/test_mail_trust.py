"""Mail that cannot flood and cannot pass for AgII's: RFC 8601 Authentication-Results (pure), then the mailbox
watcher and the router against a real Dovecot, with the 3,500-attachment message of the attack.

The agent-level run of the same message (the real agent process, its status and notifications) is in
tests/integration/test_intake_attacks.py.
"""

from __future__ import annotations

import hashlib
import io

import pytest

from retention_agent.intake import authresults
from retention_agent.intake.base import TOO_MANY_FILES, MessageFile
from retention_agent.intake.router import Router
from tests.support.mail import (
    PDF,
    Recorder,
    make_message,
)

TRUSTED = "mx.gemeente.example"
DOMAIN = "agii.be"


# ---- Authentication-Results (pure) ------------------------------------------------------------------------


def fields(*headers: str) -> list[tuple[str, str]]:
    """Header fields, top first: a value with a ``Name: `` prefix is that field, else Authentication-Results."""
    found = []
    for header in headers:
        name, colon, value = header.partition(": ")
        found.append((name, value) if colon and " " not in name and "=" not in name else (authresults.HEADER, header))
    return found


def verdict(*headers: str, from_domain: str = DOMAIN) -> tuple[bool, str]:
    return authresults.verdict(fields(*headers), authserv_id=TRUSTED, domain=DOMAIN, from_domain=from_domain)


def test_rfc8601_results_are_parsed_with_comments_quotes_and_versions() -> None:
    parsed = authresults.parse('mx.gemeente.example 1; dkim/1=pass (good signature) header.d="AgII.be" '
                               'header.s=sel; spf=pass smtp.mailfrom=agii.be; dmarc=pass (p=reject; dis=none) '
                               'header.from=agii.be; arc=none')
    assert parsed is not None and parsed.authserv_id == TRUSTED
    assert [(r.method, r.result) for r in parsed.results] == [("dkim", "pass"), ("spf", "pass"), ("dmarc", "pass"),
                                                             ("arc", "none")]
    assert parsed.results[0].properties == {"header.d": "agii.be", "header.s": "sel"}
    none = authresults.parse("mx.gemeente.example; none")
    assert none is not None and none.results == ()
    assert authresults.parse("") is None


@pytest.mark.parametrize(("headers", "expected"), [
    ((f"{TRUSTED}; dmarc=pass header.from=agii.be",), (True, authresults.AUTHENTICATED_DMARC)),
    ((f"{TRUSTED}; dkim=pass header.d=agii.be",), (True, authresults.AUTHENTICATED_DKIM)),
    ((f"{TRUSTED}; dmarc=pass",), (True, authresults.AUTHENTICATED_DMARC)),  # header.from from the From line
    ((f"{TRUSTED.upper()}; DMARC=Pass header.from=AGII.BE.",), (True, authresults.AUTHENTICATED_DMARC)),
    ((f"{TRUSTED}; dkim=pass header.d=attacker.example; dmarc=fail header.from=agii.be",),
     (False, authresults.NOT_PASSED)),
    ((f"{TRUSTED}; dkim=pass header.d=mail.agii.be",), (False, authresults.NOT_PASSED)),  # no subdomains
    ((f"{TRUSTED}; dmarc=pass header.from=attacker.example",), (False, authresults.NOT_PASSED)),
    ((f"{TRUSTED}; spf=pass smtp.mailfrom=agii.be",), (False, authresults.NOT_PASSED)),  # SPF alone is not it
    (("other.example; dmarc=pass header.from=agii.be",), (False, authresults.NO_TRUSTED_HEADER)),
    ((), (False, authresults.NO_TRUSTED_HEADER)),
    # the sender's own forged header sits below the trusted server's real one, and below another server's
    ((f"{TRUSTED}; dmarc=fail header.from=agii.be", "relay.example; dkim=pass header.d=relay.example",
      f"{TRUSTED}; dmarc=pass header.from=agii.be"), (False, authresults.NOT_PASSED)),
    # ... or below the Received header the trusted server added
    ((f"{TRUSTED}; dmarc=fail header.from=agii.be", f"Received: from x by {TRUSTED}",
      f"{TRUSTED}; dmarc=pass header.from=agii.be"), (False, authresults.NOT_PASSED)),
    # two headers of the trusted server on top of each other both count (a DKIM and a DMARC milter)
    ((f"{TRUSTED}; spf=pass smtp.mailfrom=agii.be", f"{TRUSTED}; dkim=pass header.d=agii.be",
      f"Received: from x by {TRUSTED}"), (True, authresults.AUTHENTICATED_DKIM)),
    # the local delivery's Received header on top does not hide them
    ((f"Received: from {TRUSTED} by imap.gemeente.example", f"{TRUSTED}; dkim=pass header.d=agii.be"),
     (True, authresults.AUTHENTICATED_DKIM)),
    # a spam filter's header on top does not hide the trusted server's below it
    (("filter.internal; x-spam=pass", f"{TRUSTED}; dkim=pass header.d=agii.be"),
     (True, authresults.AUTHENTICATED_DKIM)),
    # a quoted authserv-id that only looks like the trusted one inside a comment
    ((f"(\"{TRUSTED}\") forged.example; dmarc=pass header.from=agii.be",), (False, authresults.NO_TRUSTED_HEADER)),
])
def test_only_the_topmost_headers_of_the_trusted_server_count(headers: tuple[str, ...],
                                                              expected: tuple[bool, str]) -> None:
    assert verdict(*headers) == expected


def test_exchange_onlines_header_without_an_authserv_id() -> None:
    """Exchange Online writes no authserv-id; ``authserv_id = "exchange-online"`` trusts its topmost header."""
    eop = ("spf=pass (sender IP is 192.0.2.10) smtp.mailfrom=agii.be; dkim=pass (signature was verified) "
           "header.d=agii.be;dmarc=pass action=none header.from=agii.be;compauth=pass reason=100")
    parsed = authresults.parse(eop)
    assert parsed is not None and parsed.authserv_id == ""
    assert [r.method for r in parsed.results] == ["spf", "dkim", "dmarc", "compauth"]

    def eop_verdict(*headers: str) -> tuple[bool, str]:
        return authresults.verdict(fields(*headers), authserv_id="exchange-online", domain=DOMAIN,
                                   from_domain=DOMAIN)

    assert eop_verdict(eop) == (True, authresults.AUTHENTICATED_DKIM)  # the first passing result decides
    failed = "spf=fail (sender IP is 198.51.100.7) smtp.mailfrom=agii.be; dkim=none (message not signed) " \
             "header.d=none;dmarc=fail action=oreject header.from=agii.be;compauth=fail reason=000"
    received = "Received: from attacker.example by AM0PR01MB1234.outlook.office365.com"
    assert eop_verdict(failed, received, eop) == (False, authresults.NOT_PASSED)  # the forged copy below it
    assert eop_verdict(f"{TRUSTED}; dkim=pass header.d=agii.be") == (False, authresults.NO_TRUSTED_HEADER)
    assert verdict(eop) == (False, authresults.NO_TRUSTED_HEADER)  # a named server never trusts it


def test_dmarc_without_header_from_uses_the_messages_own_from_domain() -> None:
    assert verdict(f"{TRUSTED}; dmarc=pass", from_domain="attacker.example") == (False, authresults.NOT_PASSED)


# ---- the router: one announcement per file or message -----------------------------------------------------------


def test_the_router_announces_a_message_once_and_bounds_an_eml_file() -> None:
    announced: list[list[tuple[str, bool, str]]] = []
    recorder = Recorder()
    router = Router(recorder, lambda new: announced.append(list(new)), max_files_per_message=3)
    files = [MessageFile(PDF + bytes([n]), quarantine=n == 2) for n in range(3)]
    results = router.deliver_message(files, channel="email", source="agii")
    assert len(results) == 3 and len(announced) == 1 and [q for _, q, _ in announced[0]] == [False, False, True]
    router.deliver_message(files, channel="email", source="agii")  # all duplicates: nothing new to announce
    assert len(announced) == 1

    few = make_message([(f"{n}.pdf", PDF + b"eml" + bytes([n])) for n in range(3)])
    result = router(io.BytesIO(few), channel="folder", source="drop", quarantine=False)
    assert len(result.delivery_ids) == 3 and len(announced) == 2  # one announcement for the .eml file
    many = make_message([(f"{n}.pdf", PDF + b"many" + bytes([n])) for n in range(4)])
    result = router(io.BytesIO(many), channel="folder", source="drop", quarantine=False)
    assert result.others == () and announced[-1] == [(result.delivery_id, True, TOO_MANY_FILES)]
    assert recorder.calls[-1][0] == hashlib.sha256(many).hexdigest()
