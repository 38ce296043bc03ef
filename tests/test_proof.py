"""Proofs of deletion: round trip, the real ssh-keygen, tampering, strict parsing, the personal-data
tripwire and the Dutch PDF certificate.

The audit evidence is real: a small log of canonical entries, its RFC 6962 tree, a checkpoint signed with
``checkpoint.sign`` and an inclusion proof from ``merkle.inclusion_proof``.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from retention_agent.canonical import canonical
from retention_agent.crypto import SigningKey
from retention_agent.errors import (
    EXIT_INTEGRITY,
    DocumentInvalidError,
    FormatVersionError,
    RetentionAgentError,
    SignatureInvalidError,
)
from retention_agent.evidence import checkpoint as notes
from retention_agent.evidence import merkle, personal_data, proof, proof_build, proof_verify, sshsig
from retention_agent.i18n import catalogue as i18n

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.usefixtures("require_ssh_keygen")

KEY = SigningKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = SigningKey.from_private_bytes(bytes(range(32, 64)))
IDENTITY = "retention-agent@de-panne"
INSTALLATION = "inst-7f3a9c"
ORIGIN = f"retention-agent/de-panne/{INSTALLATION}"
DELIVERY = "01KB4ZX3W8J5Q3M3K0Q7Z1Y2AB"
OTHER_DELIVERY = "01KB4ZX3W8J5Q3M3K0Q7Z1Y2CD"
PURGE_SEQ = 4

# The Dutch texts of the certificate. The lead collects them into locale/nl.po; until a msgid is there,
# the fixture below supplies it, so the test checks the Dutch certificate either way.
NL: dict[str, str] = {
    "Proof of deletion": "Bewijs van vernietiging",
    "The retention agent of {municipality} destroyed delivery {delivery} on {purged_at}. The signed file "
    "{file} is the proof itself; this certificate repeats its facts for people.":
        "De bewaaragent van {municipality} heeft levering {delivery} vernietigd op {purged_at}. Het "
        "ondertekende bestand {file} is het eigenlijke bewijs; dit certificaat herhaalt de gegevens ervan "
        "voor mensen.",
    "not recorded": "niet vastgelegd",
    "The delivery": "De levering",
    "Municipality": "Gemeente",
    "Delivery": "Levering",
    "Received": "Ontvangen",
    "Channel": "Kanaal",
    "Size": "Grootte",
    "{size} bytes": "{size} bytes",
    "SHA-256 of what was received": "SHA-256 van wat ontvangen werd",
    "Legal basis": "Rechtsgrond",
    "Retention": "Bewaring",
    "Ceremony date": "Datum van de ceremonie",
    "Deadline": "Uiterste vernietigingsdatum",
    "Purged at": "Vernietigd op",
    "On time": "Tijdig",
    "on time": "op tijd",
    "{duration} late": "{duration} te laat",
    "Trigger": "Aanleiding",
    "Reason": "Reden",
    "SHA-256 of the reason text": "SHA-256 van de tekst van de reden",
    "How the data was destroyed": "Hoe de gegevens vernietigd werden",
    "Cryptographic erase (NIST SP 800-88): the delivery was stored encrypted from the first write, and its "
    "only data key was destroyed in the key store. The encrypted file and every working copy were then "
    "overwritten and removed, and the database was cleaned.":
        "Cryptografisch wissen (NIST SP 800-88): de levering werd vanaf de eerste schrijfbewerking "
        "versleuteld bewaard, en haar enige gegevenssleutel werd vernietigd in de sleutelopslag. Daarna "
        "werden het versleutelde bestand en elke werkkopie overschreven en verwijderd, en werd de databank "
        "opgeschoond.",
    "Key store": "Sleutelopslag",
    "Verification after the purge": "Controle na de vernietiging",
    "passed": "geslaagd",
    "FAILED": "MISLUKT",
    "Access while it was kept": "Toegang tijdens de bewaring",
    "Openings": "Openingen",
    "Distinct accounts that opened it": "Verschillende accounts die ze openden",
    "Copies saved outside the agent": "Kopieën bewaard buiten de agent",
    "Audit log": "Auditlog",
    "Log": "Log",
    "Purge entry": "Vermelding van de vernietiging",
    "entry {seq} of {size}": "vermelding {seq} van {size}",
    "Root hash of the signed checkpoint": "Wortelhash van het ondertekende controlepunt",
    "What this proof does not cover": "Wat dit bewijs niet dekt",
    "Checking the signature": "De handtekening controleren",
    "Put the allowed-signers line you received when the installation was set up in a file named "
    "allowed_signers, in the folder that holds {json} and {sig}. Then run in that folder:":
        "Zet de allowed-signers-regel die u bij de installatie ontving in een bestand met de naam "
        "allowed_signers, in de map met {json} en {sig}. Voer dan in die map uit:",
    "Linux and macOS:": "Linux en macOS:",
    "Windows 10 and 11 (also from PowerShell: always through cmd, because PowerShell pipes change the "
    "bytes):":
        "Windows 10 en 11 (ook vanuit PowerShell: altijd via cmd, want PowerShell-pipes veranderen de "
        "bytes):",
    "A genuine proof gives: Good \"deletion-proof\" signature for {identity}. Any other answer means the "
    "file was changed or signed by another key. 'retention-agent proof verify {json}' checks the same "
    "signature and also the audit log proof.":
        "Een echt bewijs geeft: Good \"deletion-proof\" signature for {identity}. Elk ander antwoord "
        "betekent dat het bestand gewijzigd werd of met een andere sleutel ondertekend is. "
        "'retention-agent proof verify {json}' controleert dezelfde handtekening en ook het bewijs uit de "
        "auditlog.",
    "encrypted e-mail": "versleutelde e-mail",
    "drop folder": "dropmap",
    "manual import": "handmatige import",
    "automatically, at the deadline": "automatisch, op de uiterste datum",
    "by the privacy officer, for a due purge": "door de privacyverantwoordelijke, voor een verschuldigde "
                                               "vernietiging",
    "early, on request": "vervroegd, op verzoek",
    "quarantined delivery, by the privacy officer": "levering in quarantaine, door de "
                                                    "privacyverantwoordelijke",
    "no ceremony date within the maximum retention period":
        "geen ceremoniedatum binnen de maximale bewaartermijn",
    "one month after the ceremony (deliberation nr. 41)": "één maand na de ceremonie (beraadslaging nr. 41)",
    "destroyed before its deadline, with a reason": "vóór de uiterste datum vernietigd, met een reden",
    "not recognised as an AgII delivery": "niet herkend als levering van het AgII",
    "the agent was uninstalled": "de agent werd verwijderd",
    "ceremony recorded after the fact: its deadline had already passed when the date was recorded":
        "ceremonie achteraf geregistreerd: de uiterste datum was al voorbij toen de datum geregistreerd werd",
    "a ceremony date that made it due within 24 hours": "een ceremoniedatum waardoor ze binnen 24 uur aan de beurt was",
    "Destroy the data key": "Gegevenssleutel vernietigen",
    "Overwrite and remove the encrypted file": "Versleuteld bestand overschrijven en verwijderen",
    "Wipe the working copies": "Werkkopieën wissen",
    "Delete the database rows": "Rijen in de databank verwijderen",
    "Clean the database and its journal": "Databank en journaal opschonen",
    "done": "uitgevoerd",
    "{count} wiped": "{count} gewist",
    "deleted": "verwijderd",
    "journal emptied and database compacted": "journaal geleegd en databank gecompacteerd",
    "already absent": "was al afwezig",
    "The data key is gone from the key store": "De gegevenssleutel is weg uit de sleutelopslag",
    "The encrypted file is gone from the vault": "Het versleutelde bestand is weg uit de kluis",
    "No working copy is left": "Er blijft geen werkkopie over",
    "No database row describes its content": "Geen rij in de databank beschrijft nog de inhoud",
    "The database and its journal were cleaned": "De databank en haar journaal zijn opgeschoond",
    "Copies outside the agent, such as files staff saved elsewhere with 'open --to' (counted above as "
    "copies saved outside the agent).":
        "Kopieën buiten de agent, zoals bestanden die medewerkers met 'open --to' elders bewaarden "
        "(hierboven geteld als kopieën bewaard buiten de agent).",
    "The mail server's own retention of the original message (deleted items, server backups).":
        "De eigen bewaring van het oorspronkelijke bericht door de mailserver (verwijderde items, "
        "back-ups van de server).",
    "Backups of the inbox or drop folder made before the file was taken in.":
        "Back-ups van de inbox of dropmap, gemaakt voordat het bestand werd opgenomen.",
    "Overwriting is not sanitisation on SSDs and copy-on-write file systems; the proof rests on the "
    "destruction of the key.":
        "Overschrijven is geen veilige verwijdering op SSD's en copy-on-write-bestandssystemen; het bewijs "
        "steunt op de vernietiging van de sleutel.",
    "The plaintext file this delivery came from was removed without being overwritten first (the file system "
    "or its permissions did not allow it): its bytes may remain on that disk.":
        "Het onversleutelde bestand waaruit deze levering kwam, werd verwijderd zonder eerst overschreven te "
        "worden (het bestandssysteem of de rechten lieten dat niet toe): de inhoud kan op die schijf "
        "achterblijven.",
    "Other copies in the mailbox {mailbox}":
        "Andere kopieën in de mailbox {mailbox}",
    "Searched":
        "Doorzocht",
    "not yet (the search had not finished)":
        "nog niet (de zoektocht was niet afgerond)",
    "Copies found, removed, left":
        "Kopieën gevonden, verwijderd, achtergebleven",
    "{found} found, {removed} removed, {remaining} left":
        "{found} gevonden, {removed} verwijderd, {remaining} achtergebleven",
    "The message and its copies were removed from the mailbox with IMAP: Exchange keeps them in "
    "Recoverable Items, where the mailbox's user can restore them until the deleted-item retention ends "
    "(14 days by default).":
        "Het bericht en zijn kopieën werden met IMAP uit de mailbox verwijderd: Exchange bewaart ze in "
        "Herstelbare items, waar de gebruiker van de mailbox ze kan terugzetten tot de bewaartermijn voor "
        "verwijderde items afloopt (standaard 14 dagen).",
    "The message and its copies were removed with Microsoft Graph permanentDelete: Exchange keeps them in"
    " the Purges folder, out of the user's reach, until the deleted-item retention ends (longer under a "
    "hold).":
        "Het bericht en zijn kopieën werden verwijderd met Microsoft Graph permanentDelete: Exchange bewaart "
        "ze in de map Purges, buiten het bereik van de gebruiker, tot de bewaartermijn voor verwijderde items"
        " afloopt (langer bij een bewaarplicht).",
    "The mailbox was not, or not completely, searched for other copies of the message.":
        "De mailbox werd niet, of niet volledig, doorzocht op andere kopieën van het bericht.",
    "Copies of the message were found and left in the mailbox (counted above).":
        "Kopieën van het bericht werden gevonden en bleven in de mailbox (hierboven geteld).",
}


@pytest.fixture(autouse=True)
def dutch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real catalogue where it has a translation, NL above for the certificate's texts it lacks."""
    original = i18n.catalogue

    def catalogue(lang: str) -> dict[str, str]:
        if lang == "en":
            return {}
        try:
            real = original(lang)
        except FileNotFoundError:  # locale/nl.po not written yet
            real = {}
        return {**NL, **real}

    monkeypatch.setattr(i18n, "catalogue", catalogue)


# ---- a small real audit log -----------------------------------------------------------------------------


def _entries(delivery: str = DELIVERY) -> list[bytes]:
    actions = [("officer", "staff.added", ["officer"]), ("agent", "delivery.vaulted", [delivery]),
               ("officer", "ceremony.set", [delivery]), ("agent", "delivery.purged", [delivery]),
               ("agent", "checkpoint.signed", [])]
    entries: list[bytes] = []
    previous = ""
    for seq, (actor, action, subject) in enumerate(actions, start=1):
        details: dict[str, Any] = {"sha256": hashlib.sha256(b"delivery").hexdigest()} if seq == 2 else {}
        entry = canonical({"v": 1, "seq": seq, "time": f"2026-11-28T00:0{seq}:00Z", "actor": actor,
                           "action": action, "subject": subject, "outcome": "ok", "details": details,
                           "prev": previous})
        entries.append(entry)
        previous = hashlib.sha256(entry).hexdigest()
    return entries


def _audit(key: SigningKey = KEY, origin: str = ORIGIN, seq: int = PURGE_SEQ,
           entries: list[bytes] | None = None) -> proof.AuditEvidence:
    entries = entries or _entries()
    leaves = [merkle.leaf_hash(e) for e in entries]
    note = notes.sign(notes.Checkpoint(origin, len(leaves), merkle.root(leaves)), origin, key)
    return {"checkpoint": note, "entry_seq": seq, "entry": entries[seq - 1].decode(),
            "inclusion_proof": [h.hex() for h in merkle.inclusion_proof(leaves, seq - 1)],
            "tree_size": len(leaves)}


def _facts(**changes: Any) -> proof_build.ProofFacts:
    fields: dict[str, Any] = {
        "municipality": "De Panne", "installation_id": INSTALLATION, "legal_basis": "VCMP-05-2024",
        "delivery_id": DELIVERY, "received_at": "2026-09-01T08:12:30Z", "channel": "zivver",
        "sha256": hashlib.sha256(b"delivery").hexdigest(), "size": 48213,
        "ceremony_date": "2026-10-28", "deadline": "2026-11-28", "due_at": "2026-11-27T23:00:00Z",
        "purged_at": "2026-11-28T00:04:00Z", "lateness_seconds": 3840, "trigger": "schedule",
        "reason": "deadline",
        "steps": [{"step": s, "done_at": "2026-11-28T00:03:00Z", "result": r}
                  for s, r in (("key", "ok"), ("object", "ok"), ("workspace", "wiped 2"),
                               ("rows", "deleted"), ("scrub", "checkpointed-and-vacuumed"))],
        "verification": dict.fromkeys(proof.REQUIRED_CHECKS, True),
        "key_store_backend": "keyring.backends.SecretService.Keyring", "openings_count": 3,
        "distinct_accounts_count": 2, "untracked_copies_count": 1, "audit": _audit(),
    }
    fields.update(changes)
    return proof_build.ProofFacts(**fields)


def _signed(doc: dict[str, Any], key: SigningKey = KEY, namespace: str = proof.NAMESPACE) -> tuple[bytes, str]:
    """Sign whatever ``doc`` is, bypassing sign_proof's own checks (to build bad proofs on purpose)."""
    data = proof.proof_bytes(doc)
    return data, sshsig.sign(key, namespace, data)


@pytest.fixture
def doc() -> dict[str, Any]:
    return proof_build.build_proof(_facts())


# ---- round trip --------------------------------------------------------------------------------------------


def test_round_trip(doc: dict[str, Any]) -> None:
    data, signature = proof_build.sign_proof(doc, KEY)
    assert data.endswith(b"\n") and data.isascii() and b"\r" not in data
    assert proof_verify.verify_proof(data, signature, KEY.public_bytes(), origin=ORIGIN) == doc
    assert proof_verify.verify_proof(data, signature, KEY.public_bytes()) == doc
    assert doc["signer"] == IDENTITY and doc["version"] == proof.PROOF_VERSION
    assert doc["untracked_copies_count"] == 1 and doc["copies"] is None
    assert doc["not_covered"] == [*proof.NOT_COVERED, proof.WORKSTATIONS_NOT_SWEPT, proof.DERIVED_COPIES_NOT_SEARCHED]


def test_a_source_that_was_not_overwritten_is_named_in_not_covered() -> None:
    doc = proof_build.build_proof(_facts(source_not_overwritten="no-write-permission"))
    assert doc["not_covered"][:5] == [*proof.NOT_COVERED, proof.SOURCE_NOT_OVERWRITTEN]
    data, signature = proof_build.sign_proof(doc, KEY)
    assert proof_verify.verify_proof(data, signature, KEY.public_bytes(), origin=ORIGIN)["not_covered"][4] == (
        "source-not-overwritten")
    dutch = " ".join(_pdf_text(_certificate(doc)).split())
    assert "zonder eerst overschreven te worden" in dutch


def test_bytes_are_deterministic(doc: dict[str, Any]) -> None:
    again = proof_build.build_proof(_facts())
    assert proof_build.sign_proof(doc, KEY) == proof_build.sign_proof(again, KEY)
    assert json.loads(proof.proof_bytes(doc)) == doc


def test_early_purge_keeps_only_the_hash_of_its_reason() -> None:
    text = "Op verzoek van de dienst, zie dossier"
    digest = hashlib.sha256(text.encode()).hexdigest()
    doc = proof_build.build_proof(_facts(trigger="early", reason="early", reason_sha256=digest, lateness_seconds=0))
    data, _ = proof_build.sign_proof(doc, KEY)
    assert text.encode() not in data and digest.encode() in data


def test_commands_and_file_names(doc: dict[str, Any]) -> None:
    commands = proof.verify_commands(doc)
    expected = (f"ssh-keygen -Y verify -f allowed_signers -I {IDENTITY} -n deletion-proof "
                f"-s {DELIVERY}.json.sig < {DELIVERY}.json")
    assert commands == {"posix": expected, "windows": f'cmd /c "{expected}"'}
    assert proof.proof_file_names(DELIVERY) == (f"{DELIVERY}.json", f"{DELIVERY}.json.sig")
    with pytest.raises(ValueError):
        proof.proof_file_names("../evil")


def test_allowed_signers_line() -> None:
    line = proof.allowed_signers_for(IDENTITY, KEY.public_bytes())
    assert line.startswith(f'{IDENTITY} namespaces="deletion-proof" ssh-ed25519 ')
    assert sshsig.parse_allowed_signers(line)[0].public_key == KEY.public_bytes()


# ---- the real ssh-keygen -----------------------------------------------------------------------------------


def _keygen_verify(tmp_path: Path, data: bytes, signature: str, namespace: str = proof.NAMESPACE) -> int:
    (tmp_path / "allowed_signers").write_text(proof.allowed_signers_for(IDENTITY, KEY.public_bytes()) + "\n")
    (tmp_path / "proof.json").write_bytes(data)
    (tmp_path / "proof.json.sig").write_text(signature)
    with open(tmp_path / "proof.json", "rb") as stdin:
        done = subprocess.run(
            [SSH_KEYGEN or "ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", IDENTITY,
             "-n", namespace, "-s", "proof.json.sig"],
            stdin=stdin, cwd=tmp_path, capture_output=True, check=False)
    return done.returncode


@needs_ssh_keygen
def test_ssh_keygen_accepts_a_proof(tmp_path: Path, doc: dict[str, Any]) -> None:
    data, signature = proof_build.sign_proof(doc, KEY)
    assert _keygen_verify(tmp_path, data, signature) == 0


@needs_ssh_keygen
@pytest.mark.parametrize("position", [0, 1, 100, -40, -2, -1])
def test_one_changed_byte_fails_both(tmp_path: Path, doc: dict[str, Any], position: int) -> None:
    data, signature = proof_build.sign_proof(doc, KEY)
    changed = bytearray(data)
    changed[position] ^= 0x01
    with pytest.raises(RetentionAgentError) as caught:
        proof_verify.verify_proof(bytes(changed), signature, KEY.public_bytes())
    assert caught.value.exit_code == EXIT_INTEGRITY
    assert isinstance(caught.value, SignatureInvalidError)
    assert _keygen_verify(tmp_path, bytes(changed), signature) != 0


@needs_ssh_keygen
def test_wrong_namespace_fails_both(tmp_path: Path, doc: dict[str, Any]) -> None:
    data, signature = _signed(doc, namespace=sshsig.NAMESPACE_DPO_REPORT)
    with pytest.raises(SignatureInvalidError):
        proof_verify.verify_proof(data, signature, KEY.public_bytes())
    assert _keygen_verify(tmp_path, data, signature) != 0
    assert _keygen_verify(tmp_path, data, signature, namespace=sshsig.NAMESPACE_DPO_REPORT) != 0


@needs_ssh_keygen
def test_another_key_fails_both(tmp_path: Path) -> None:
    doc = proof_build.build_proof(_facts(audit=_audit(key=OTHER_KEY)))
    data, signature = proof_build.sign_proof(doc, OTHER_KEY)
    assert proof_verify.verify_proof(data, signature, OTHER_KEY.public_bytes()) == doc
    with pytest.raises(SignatureInvalidError):
        proof_verify.verify_proof(data, signature, KEY.public_bytes())
    assert _keygen_verify(tmp_path, data, signature) != 0


# ---- what verify_proof checks beyond the signature ----------------------------------------------------------


def test_a_failed_check_is_not_a_proof() -> None:
    checks = dict.fromkeys(proof.REQUIRED_CHECKS, True) | {"no_rows_left": False}
    doc = proof_build.build_proof(_facts(verification=checks))
    data, signature = proof_build.sign_proof(doc, KEY)
    with pytest.raises(DocumentInvalidError, match="no_rows_left"):
        proof_verify.verify_proof(data, signature, KEY.public_bytes())


def test_a_newer_version_asks_for_a_newer_agent(doc: dict[str, Any]) -> None:
    data, signature = _signed({**doc, "version": proof.PROOF_VERSION + 1, "new_field": "x"})
    with pytest.raises(FormatVersionError) as caught:
        proof_verify.verify_proof(data, signature, KEY.public_bytes(), file="p.json")
    assert caught.value.exit_code == EXIT_INTEGRITY and caught.value.params["found"] == proof.PROOF_VERSION + 1


def _mutated(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(doc)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def _proof_of(node: str, doc: dict[str, Any]) -> list[str]:
    path = list(doc["audit"]["inclusion_proof"])
    path[0] = node
    return path


@pytest.mark.parametrize(("path", "make"), [
    (("audit", "inclusion_proof"), lambda d: _proof_of("00" * 32, d)),
    (("audit", "inclusion_proof"), lambda d: d["audit"]["inclusion_proof"][:-1]),
    (("audit", "inclusion_proof"), lambda d: [*d["audit"]["inclusion_proof"], "11" * 32]),
    (("audit", "entry_seq"), lambda d: 3),
    (("audit", "tree_size"), lambda d: 6),
    (("audit", "entry"), lambda d: _entries()[2].decode()),
    (("audit", "entry"), lambda d: d["audit"]["entry"].replace("delivery.purged", "delivery.purgeX")),
    (("audit",), lambda d: _audit(entries=_entries(OTHER_DELIVERY))),
    (("audit",), lambda d: _audit(origin="retention-agent/de-panne/other-installation")),
    (("audit", "checkpoint"), lambda d: d["audit"]["checkpoint"].replace("\n5\n", "\n4\n")),
    (("audit", "checkpoint"), lambda d: "not a checkpoint"),
])
def test_tampered_audit_evidence_fails(doc: dict[str, Any], path: tuple[str, ...], make: Any) -> None:
    bad = _mutated(doc, path, make(doc))
    data, signature = _signed(bad)
    with pytest.raises((DocumentInvalidError, SignatureInvalidError)) as caught:
        proof_verify.verify_proof(data, signature, KEY.public_bytes())
    assert caught.value.exit_code == EXIT_INTEGRITY
    with pytest.raises(ValueError, match=r"audit evidence|well-formed"):
        proof_build.sign_proof(bad, KEY)


def test_a_checkpoint_signed_by_another_key_fails(doc: dict[str, Any]) -> None:
    data, signature = _signed(_mutated(doc, ("audit",), _audit(key=OTHER_KEY)))
    with pytest.raises(SignatureInvalidError, match="checkpoint"):
        proof_verify.verify_proof(data, signature, KEY.public_bytes())


def test_the_expected_origin_is_enforced(doc: dict[str, Any]) -> None:
    data, signature = proof_build.sign_proof(doc, KEY)
    with pytest.raises(DocumentInvalidError, match="another log"):
        proof_verify.verify_proof(data, signature, KEY.public_bytes(), origin="retention-agent/elsewhere/x")


@pytest.mark.parametrize("change", [
    {"trigger": "whenever"}, {"channel": "fax"}, {"size": -1}, {"size": True}, {"lateness_seconds": 1.5},
    {"purged_at": "2026-11-28 00:04:00"}, {"deadline": "2026-02-30"}, {"sha256": "AB" * 32},
    {"unexpected": 1}, {"verification": {"key_absent": True}}, {"steps": []}, {"reason": "line\nbreak"},
])
def test_malformed_fields_are_refused(doc: dict[str, Any], change: dict[str, Any]) -> None:
    data, signature = _signed({**doc, **change})
    with pytest.raises(DocumentInvalidError):
        proof_verify.verify_proof(data, signature, KEY.public_bytes())


@pytest.mark.parametrize(("path", "value"), [
    (("audit", "entry"), "\ud800"), (("audit", "checkpoint"), "\udfff\n"), (("reason",), "\ud800"),
    (("signer",), "retention-agent@elsewhere"),
])
def test_odd_strings_are_refused(doc: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    data, signature = _signed(_mutated(doc, path, value))  # lone surrogates travel as \\ud800 escapes
    with pytest.raises(RetentionAgentError) as caught:
        proof_verify.verify_proof(data, signature, KEY.public_bytes())
    assert caught.value.exit_code == EXIT_INTEGRITY


def test_bytes_like_input_is_accepted(doc: dict[str, Any]) -> None:
    data, signature = proof_build.sign_proof(doc, KEY)
    assert proof_verify.verify_proof(bytearray(data), signature, KEY.public_bytes()) == doc
    with pytest.raises(DocumentInvalidError):
        proof_verify.verify_proof(data.decode(), signature, KEY.public_bytes())  # type: ignore[arg-type]


def test_non_canonical_bytes_are_refused(doc: dict[str, Any]) -> None:
    data = json.dumps(doc, sort_keys=True).encode() + b"\n"  # same content, other layout
    with pytest.raises(DocumentInvalidError, match="canonical"):
        proof_verify.verify_proof(data, sshsig.sign(KEY, proof.NAMESPACE, data), KEY.public_bytes())


@pytest.mark.parametrize("data", [
    b"", b"\xef\xbb\xbf{}", b"[]", b"{}", b'{"format": "retention-agent/deletion-proof", "version": 1, '
    b'"version": 1}', b'{"a": NaN}', b"[" * 100_000, b'{"format":"retention-agent/deletion-proof",'
    b'"version":"1"}', b"\xff\xfe", b"9" * 5000, b'{"size": 1e999}',
    b'{"size": 1.0}',
])
def test_garbage_gives_an_integrity_error(data: bytes) -> None:
    with pytest.raises(RetentionAgentError) as caught:
        proof_verify.verify_proof(data, sshsig.sign(KEY, proof.NAMESPACE, data), KEY.public_bytes())
    assert caught.value.exit_code == EXIT_INTEGRITY


def test_oversized_input_is_refused_unread() -> None:
    data = b" " * (proof.MAX_PROOF_BYTES + 1)
    with pytest.raises(DocumentInvalidError):
        proof_verify.verify_proof(data, "", KEY.public_bytes())


# ---- fuzzing: only the catalogue's exit-4 errors escape ----------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec=None, exclude_categories=()), max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _verify_outcome(data: bytes) -> None:
    try:
        proof_verify.verify_proof(data, sshsig.sign(KEY, proof.NAMESPACE, data), KEY.public_bytes())
    except RetentionAgentError as exc:
        assert exc.exit_code == EXIT_INTEGRITY
        assert isinstance(exc, SignatureInvalidError | DocumentInvalidError | FormatVersionError)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_fuzz_bytes(data: bytes) -> None:
    _verify_outcome(data)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from([("version",), ("size",), ("steps",), ("verification",), ("audit",),
                             ("audit", "entry"), ("audit", "entry_seq"), ("audit", "inclusion_proof"),
                             ("audit", "checkpoint"), ("format",), ("delivery_id",), ("steps", 0)]),
       value=_json_values, pretty=st.booleans())
def test_fuzz_fields(doc: dict[str, Any], path: tuple[Any, ...], value: Any, pretty: bool) -> None:
    changed = _mutated(doc, path, value)
    data = proof.proof_bytes(changed) if pretty else json.dumps(changed).encode()
    _verify_outcome(data)


# ---- the personal-data tripwire ----------------------------------------------------------------------------


def _rrn(birth: str, serial: str, *, from_2000: bool) -> str:
    body = birth + serial
    check = 97 - int(("2" if from_2000 else "") + body) % 97
    return f"{body}{check:02d}"


OLD_RRN = _rrn("850730", "033", from_2000=False)
NEW_RRN = _rrn("050312", "125", from_2000=True)


def test_rrn_fixtures_are_what_they_claim() -> None:
    assert OLD_RRN == "85073003328"
    assert (97 - int(NEW_RRN[:9]) % 97) != int(NEW_RRN[9:])  # only the 2000+ rule makes it valid


@pytest.mark.parametrize("text", [
    OLD_RRN, NEW_RRN, "85.07.30-033.28", f"{NEW_RRN[:2]}.{NEW_RRN[2:4]}.{NEW_RRN[4:6]}-{NEW_RRN[6:9]}."
    f"{NEW_RRN[9:]}", f"rrn {OLD_RRN} gevonden", "jan.peeters@example.be", "mail naar info@de-panne.be",
    "lijst.xlsx", "Lijst ceremonie 2026.XLSX", "C:\\Users\\x\\Downloads\\export (1).csv", "bericht.eml",
])
def test_personal_data_is_found(doc: dict[str, Any], text: str) -> None:
    found = personal_data.scan_personal_data({**doc, "reason": text})
    assert found and all(f.startswith("reason") for f in found)
    assert all(text not in finding for finding in found)  # findings never repeat the value
    with pytest.raises(ValueError, match="personal data") as caught:
        proof_build.build_proof(_facts(reason=text))
    assert text not in str(caught.value)


def test_personal_data_is_found_inside_the_audit_entry_and_in_keys(doc: dict[str, Any]) -> None:
    entry = json.loads(doc["audit"]["entry"])
    entry["details"]["note"] = OLD_RRN
    bad = _mutated(doc, ("audit", "entry"), canonical(entry).decode())
    assert personal_data.scan_personal_data(bad) == ["audit.entry.details.note: national register number"]
    assert personal_data.scan_personal_data({"verification": {"a@b.example": True}})
    with pytest.raises(ValueError, match="personal data"):
        proof_build.sign_proof(bad, KEY)


@pytest.mark.parametrize("text", [
    "85073003329", "12345678901", "2026-11-28", "2026-11-28T00:04:00Z", DELIVERY, INSTALLATION,
    "VCMP-05-2024", "retention-agent@de-panne", "keyring.backends.SecretService.Keyring", "wiped 2",
    "checkpointed-and-vacuumed", "delivery.purged", "d3b07384d113edec49eaa6238ad5ff00", "v1.2.3",
])
def test_ids_hashes_and_dates_are_not_flagged(text: str) -> None:
    assert personal_data.scan_personal_data({"reason": text}) == []


def test_hash_fields_are_exempt_and_a_real_proof_is_clean(doc: dict[str, Any]) -> None:
    assert personal_data.scan_personal_data(doc) == []
    assert personal_data.scan_personal_data({"sha256": OLD_RRN, "reason_sha256": OLD_RRN}) == []
    # a hex hash full of digits is an id, not a number someone has
    assert personal_data.scan_personal_data({"reason": "8507300332" + "8" * 54}) == []


# ---- the PDF certificate -----------------------------------------------------------------------------------


def _pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_certificate_in_dutch(doc: dict[str, Any]) -> None:
    pdf = _certificate(doc)
    text = _pdf_text(pdf)
    flat = " ".join(text.split())
    for expected in ("Bewijs van vernietiging", DELIVERY, "De Panne", "28 november 2026", "28 oktober 2026",
                     "1 september 2026", "1 uur 4 minuten te laat", "VCMP 05/2024", "nr. 41",
                     doc["sha256"], "Kopieën bewaard buiten de agent", "geslaagd", "Zivver",
                     "automatisch, op de uiterste datum", "keyring.backends.SecretService.Keyring",
                     "48.213 bytes"):
        assert expected in flat, expected
    commands = proof.verify_commands(doc)
    assert commands["posix"] in flat and commands["windows"] in flat
    assert PdfReader(io.BytesIO(pdf)).metadata.title == f"Bewijs van vernietiging {DELIVERY}"


def _certificate(doc: dict[str, Any], lang: str = "nl") -> bytes:
    from retention_agent.pdf.proof import render_certificate

    return render_certificate(doc, lang)


def test_certificate_is_deterministic_and_dated_by_the_purge(doc: dict[str, Any]) -> None:
    first = _certificate(doc)
    assert first == _certificate(doc)
    assert b"D:20261128000400Z" in first


def test_certificate_in_english_and_for_an_early_purge() -> None:
    digest = hashlib.sha256(b"reason").hexdigest()
    doc = proof_build.build_proof(_facts(trigger="early", reason="early", reason_sha256=digest, lateness_seconds=0,
                                   ceremony_date=None, deadline=None, due_at=None))
    english = " ".join(_pdf_text(_certificate(doc, "en")).split())
    assert "Proof of deletion" in english and "not recorded" in english and digest in english
    dutch = " ".join(_pdf_text(_certificate(doc)).split())
    assert "vervroegd, op verzoek" in dutch and "niet vastgelegd" in dutch and "op tijd" in dutch


def test_every_certificate_text_has_a_dutch_translation() -> None:
    source = Path(__file__).parents[1] / "retention_agent" / "pdf" / "proof.py"
    used = {node.args[0].value for node in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "words"
            and node.args and isinstance(node.args[0], ast.Constant)}
    known = set(i18n.catalogue("nl"))  # NL above and locale/nl.po (the fixture merges them)
    assert used and used <= known, sorted(used - known)
    for msgid, dutch in NL.items():  # placeholders survive translation
        assert sorted(_placeholders(msgid)) == sorted(_placeholders(dutch)), msgid


def _placeholders(text: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def test_non_ascii_names_are_escaped_and_printed() -> None:
    doc = proof_build.build_proof(_facts(municipality="Écaussinnes"))
    data, signature = proof_build.sign_proof(doc, KEY)
    assert b"\\u00c9caussinnes" in data and data.isascii()
    assert doc["signer"] == "retention-agent@ecaussinnes"
    assert proof_verify.verify_proof(data, signature, KEY.public_bytes())["municipality"] == "Écaussinnes"
    assert "Écaussinnes" in _pdf_text(_certificate(doc))


def test_pdf_helpers_print_dutch_characters() -> None:
    from datetime import UTC, datetime

    from retention_agent.pdf import document as layout

    document = layout.new_document("Overzicht", created=datetime(2026, 11, 28, tzinfo=UTC))
    layout.heading(document, "Privacyverklaring van de gemeente")
    layout.paragraph(document, "Zoë betaalde € 5 voor het café; één reünie.")
    layout.field_table(document, [("Coördinator", "Inburgeringsdienst"), ("Hash", "ab" * 32)])
    layout.monospace_block(document, "ssh-keygen -Y verify …")  # not Latin-1: falls back to DejaVu
    text = _pdf_text(layout.output_bytes(document))
    for expected in ("Zoë betaalde € 5 voor het café; één reünie.", "Coördinator", "ab" * 32, "verify …"):
        assert expected in text
    with pytest.raises(ValueError, match="timezone"):
        layout.new_document("x", created=datetime(2026, 11, 28))  # naive on purpose
