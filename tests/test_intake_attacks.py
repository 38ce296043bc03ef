"""The attacks on intake, run for real: a second OS account, the real agent process, a loop-mounted ext4 file
system, a real Dovecot.

1. A staff member who may write the folder above a drop folder swaps the drop folder for a link to the
   agent's ``keys/`` folder while the agent runs. The key store must stay untouched, the agent must still
   start, and status and the audit log must say what happened (once).
2. A drop folder under a folder another account may write is refused at start-up, with a problem and a fix.
3. Plaintext dropped (and synced) before the agent starts, a mail file and a manual ``ingest``: after intake,
   purge and unmount, not one byte of any of them is in the raw image of the file system.
4. One forged mail with 3,500 tiny ``%PDF-`` attachments: one quarantined delivery, one notification, a
   problem for the officer, and ``deliveries`` still answers; with ``authserv_id`` set, a message the mail
   server did not vouch for is quarantined and a vouched one is trusted.

All need root (accounts, mounts): CI runs the suite as root.
"""

from __future__ import annotations

import base64
import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from retention_agent.session.status_table import finding_text
from tests.accounts import in_child_as, needs_root, temporary_account
from tests.conftest import AgentProcess, make_home
from tests.helpers_accounts import traversable_folder
from tests.retention_support import all_deliveries, api, audit_entries, fast_ticks, grant_me, proof_doc, wait_for

pytestmark = needs_root


def configure_inbox(home: Path, inbox: Path) -> None:
    config = home / "config.toml"
    config.write_text(config.read_text().replace(
        f'path = "{inbox}"', f'settle_seconds = 0.3\nscan_interval_seconds = 1.0\npath = "{inbox}"'))


def problems(home: Path) -> dict[str, str]:
    return {p["code"]: finding_text(p) for p in api(home, "status")["problems"]}


def refusals(home: Path) -> list[dict[str, Any]]:
    return audit_entries(home, "intake.refused")


def key_files(home: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((home / "keys").iterdir())}


# ---- 1. the drop folder swapped for a link to the keys --------------------------------------------------------


def test_a_drop_folder_swapped_for_a_link_to_the_keys_leaves_the_key_store_untouched() -> None:
    with traversable_folder() as base, temporary_account("ra-staff") as staff:
        account = pwd.getpwnam(staff)
        share, drop = base / "share", base / "share" / "drop"
        drop.mkdir(parents=True)
        for folder in (share, drop):  # the staff member's own folders, as on a departmental share
            os.chown(folder, account.pw_uid, account.pw_gid)
            folder.chmod(0o755)
        home = make_home(base / "home", inboxes=[str(drop)])
        configure_inbox(home.root, drop)
        agent = AgentProcess(home.root).start()
        try:
            grant_me(home.root, "read")
            in_child_as(account.pw_uid, account.pw_gid, lambda: _drop(drop / "lijst.xlsx", b"PK\x03\x04 first"))
            wait_for(lambda: len(all_deliveries(home.root)) == 1 and not any(drop.iterdir()), 30, "the intake")
            keys_before = key_files(home.root)
            assert {"signing-key.key"} < set(keys_before)  # the signing key and one data key

            def swap() -> bytes:  # what the staff member can do: rename the folder away, put a link in its place
                drop.rename(share / "old-drop")
                drop.symlink_to(home.root / "keys")
                return b""

            in_child_as(account.pw_uid, account.pw_gid, swap)
            wait_for(lambda: "folder-swapped" in problems(home.root) or key_files(home.root) != keys_before, 30,
                     "the swap noticed, or the keys taken")
            time.sleep(3)  # three more scans would each have taken the key files through the link
            assert key_files(home.root) == keys_before
            assert len(all_deliveries(home.root)) == 1
            assert [e["details"]["why"] for e in refusals(home.root)] == ["folder-swapped"]  # audited once
            assert "restart the agent" in problems(home.root)["folder-swapped"]
            assert agent.stop() == 0
        finally:
            agent.kill()
        again = AgentProcess(home.root).start()  # the agent still starts: its keys are all there
        try:
            assert key_files(home.root) == keys_before
            assert again.cli("keys", "public").returncode == 0
            wait_for(lambda: "folder-link-in-path" in problems(home.root), 30, "the link refused at start-up")
            time.sleep(2)
            assert key_files(home.root) == keys_before and len(all_deliveries(home.root)) == 1
            assert again.cli("audit", "verify").returncode == 0
        finally:
            again.stop()


def _drop(path: Path, data: bytes) -> bytes:
    staged = path.with_name("." + path.name + ".part")
    staged.write_bytes(data)
    staged.rename(path)
    return b""


# ---- 2. a parent another account may write -------------------------------------------------------------------


def test_a_drop_folder_under_a_folder_others_may_write_is_refused_at_start_up() -> None:
    with traversable_folder() as base, temporary_account("ra-other") as other:
        share, drop = base / "share", base / "share" / "drop"
        drop.mkdir(parents=True)
        share.chmod(0o775)
        os.chown(share, 0, pwd.getpwnam(other).pw_gid)  # the other account's group may write the parent
        (drop / "lijst.xlsx").write_bytes(b"PK\x03\x04 waits")
        home = make_home(base / "home", inboxes=[str(drop)])
        configure_inbox(home.root, drop)
        agent = AgentProcess(home.root).start()
        try:
            wait_for(lambda: "folder-unsafe-parent" in problems(home.root), 30, "the refusal")
            time.sleep(2)
            assert all_deliveries(home.root) == [] and (drop / "lijst.xlsx").exists()
            assert "sticky bit" in problems(home.root)["folder-unsafe-parent"]
            assert [e["details"]["why"] for e in refusals(home.root)] == ["folder-unsafe-parent"]
            share.chmod(0o1775)  # the fix the status names: no restart needed
            wait_for(lambda: not (drop / "lijst.xlsx").exists(), 30, "taken once the parent is safe")
            assert "folder-unsafe-parent" not in problems(home.root)
        finally:
            agent.stop()


# ---- 3. no plaintext left in the file system --------------------------------------------------------------------


@contextlib.contextmanager
def ext4_image(size_mb: int = 160) -> Iterator[tuple[Path, Path]]:
    """A fresh ext4 file system in an image file, loop-mounted; yields (image, mount point)."""
    root = Path(tempfile.mkdtemp(prefix="ra-ext4-"))
    image, mount = root / "disk.img", root / "mnt"
    mount.mkdir()
    try:
        subprocess.run(["truncate", "-s", f"{size_mb}M", str(image)], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
        done = subprocess.run(["mount", "-o", "loop", str(image), str(mount)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"cannot loop-mount an ext4 image here (the test runs as root, as in CI): {done.stderr!r}")
        mount.chmod(0o711)
        try:
            yield image, mount
        finally:
            subprocess.run(["umount", str(mount)], check=False, capture_output=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def variants(canary: bytes) -> list[bytes]:
    """The canary raw, and the part of its base64 that does not depend on its neighbours, at each alignment."""
    found = [canary]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + canary)
        found.append(encoded[4 if shift else 0:-4])
    return found


def hits(image: Path, canaries: dict[str, bytes]) -> dict[str, int]:
    data = image.read_bytes()
    counts = {name: sum(data.count(v) for v in variants(canary)) for name, canary in canaries.items()}
    return {name: n for name, n in counts.items() if n}


def plaintext(canary: bytes, size: int) -> bytes:
    """A CSV as AgII's lists look once opened: rows of (synthetic) personal data, each with the canary."""
    row = canary + b";85073003328;Peeters;Jan;Kerkstraat 1;8660 De Panne;jan@example.invalid;0470123456\n"
    return b"rijksregisternummer;naam;voornaam;adres;gemeente;e-mail;telefoon\n" + row * (size // len(row))


def test_no_byte_of_a_purged_plaintext_source_is_left_on_an_ext4_disk() -> None:
    tag = secrets.token_hex(6).upper()
    canaries = {name: f"CANARY{name.upper()}{tag}".encode() for name in ("drop", "mail", "manual")}
    with ext4_image() as (image, mount):
        drop, manual = mount / "drop", mount / "manual"
        drop.mkdir()
        manual.mkdir()
        home = make_home(mount / "home", inboxes=[str(drop)])
        configure_inbox(home.root, drop)
        fast_ticks(home.root)
        (drop / "inburgeraars.csv").write_bytes(plaintext(canaries["drop"], 4 << 20))
        message = EmailMessage()
        message["From"] = "agii@integratie-inburgering.be"
        message["Subject"] = "Inburgeraars"
        message.set_content("Zie bijlage.")
        message.add_attachment(plaintext(canaries["mail"], 3 << 20), maintype="text", subtype="csv",
                               filename="lijst.csv")
        (drop / "bericht.eml").write_bytes(message.as_bytes())
        source = manual / "handmatig.csv"
        source.write_bytes(plaintext(canaries["manual"], 3 << 20))
        os.sync()  # on disk before the agent starts, as a file dropped while it was stopped
        assert set(hits(image, canaries)) == set(canaries)  # the search finds them: it can fail

        agent = AgentProcess(home.root).start()
        try:
            grant_me(home.root, "import", "destroy")
            wait_for(lambda: not any(drop.iterdir()) and len(all_deliveries(home.root)) == 2, 60, "the intake")
            ingested = agent.cli("ingest", str(source))
            assert ingested.returncode == 0 and not source.exists(), ingested.stderr
            ids = [r["id"] for r in all_deliveries(home.root)]
            assert len(ids) == 3
            for delivery in ids:
                api(home.root, "purge.one", {"delivery": delivery, "reason": "forensic test"})
            for delivery in ids:
                doc = proof_doc(home.root, delivery)
                assert all(doc["verification"].values())
                assert "source-not-overwritten" not in doc["not_covered"]  # it was overwritten: no caveat
            assert agent.stop() == 0
        finally:
            agent.kill()
        os.sync()
        subprocess.run(["umount", str(mount)], check=True)
        assert hits(image, canaries) == {}
        subprocess.run(["mount", "-o", "loop", str(image), str(mount)], check=True)  # for the fixture's umount


# ---- 4. the mail flood, and senders the mail server vouches for ----------------------------------------------

TRUSTED = "mx.gemeente.example"


def _message(subject: str, files: list[tuple[str, bytes]], *, results: str = "") -> bytes:
    message = EmailMessage()
    message["From"] = "AgII <noreply@integratie-inburgering.be>"
    message["To"] = "ceremonie@gemeente.example"
    message["Subject"] = subject
    message["Message-ID"] = f"<{secrets.token_hex(8)}@integratie-inburgering.be>"
    message.set_content("Zie bijlagen.")
    for name, data in files:
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    raw = message.as_bytes()
    return f"Authentication-Results: {results}\r\n".encode() + raw if results else raw


def test_a_forged_mail_with_3500_files_is_one_quarantined_delivery_and_one_notification(tmp_path: Path) -> None:
    from tests.dovecot import run_dovecot

    flood = _message("Inburgeraars", [(f"lijst-{n}.pdf", b"%PDF-" + str(n).encode()) for n in range(3500)])
    genuine = _message("Inburgeraars december", [("lijst.pdf", b"%PDF-1.7 genuine")],
                       results=f"{TRUSTED}; dkim=pass header.d=integratie-inburgering.be")
    forged = _message("Inburgeraars januari", [("lijst.pdf", b"%PDF-1.7 forged")],
                      results="relay.example; dkim=pass header.d=integratie-inburgering.be")
    with run_dovecot() as server:
        home = make_home(tmp_path / "home")
        home.config.write_text(home.config.read_text() + (
            f'\n[[mailbox]]\nname = "agii"\nhost = "{server.host}"\nport = {server.port}\n'
            f'username = "{server.user}"\ntls = "none"\npoll_interval_seconds = 1.0\n'
            f'authserv_id = "{TRUSTED}"\n'))
        agent = AgentProcess(home.root).start()
        try:
            grant_me(home.root, "read")
            assert agent.cli("secret", "set", "mailbox-agii", input=server.password.encode() + b"\n").returncode == 0
            with server.client() as imap:
                for raw in (flood, genuine, forged):
                    imap.append("INBOX", raw)
            wait_for(lambda: len(all_deliveries(home.root)) == 3, 60, "three deliveries")
            rows = {r["id"]: r for r in all_deliveries(home.root)}
            assert sorted(r["state"] for r in rows.values()) == ["quarantined", "quarantined", "vaulted"]
            listed = agent.cli("deliveries", "--json")
            assert listed.returncode == 0, listed.stderr  # the reply still fits
            status = api(home.root, "status")
            reasons = {i["delivery"]: i["reason"] for i in status["quarantined"]["items"]}
            assert sorted(reasons.values()) == ["mail-not-authenticated", "mail-too-many-files"]
            whole = next(d for d, reason in reasons.items() if reason == "mail-too-many-files")
            assert rows[whole]["size"] > 600_000  # the whole message, not one of its files
            assert whole in problems(home.root)["mail-too-many-files"]
            assert "mail-not-authenticated" not in {w["code"] for w in status["warnings"]}
            kinds = [n["kind"] for n in api(home.root, "notifications", {"after": 0, "limit": 200})["notifications"]]
            assert sorted(kinds) == ["delivery-quarantined", "delivery-received", "message-too-many-files"]
            with server.client() as imap:
                imap.select_folder("INBOX")
                wait_for(lambda: imap.search("ALL") == [], 15, "the messages expunged")
        finally:
            agent.stop()


def test_status_warns_while_mail_senders_are_not_authenticated(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    home.config.write_text(home.config.read_text() + (
        '\n[[mailbox]]\nname = "agii"\nhost = "127.0.0.1"\nport = 9\nusername = "x"\ntls = "none"\n'))
    agent = AgentProcess(home.root).start()
    try:
        warnings = {w["code"]: finding_text(w) for w in api(home.root, "status")["warnings"]}
        assert "authserv_id" in warnings["mail-not-authenticated"]
    finally:
        agent.stop()


# ---- 5. a manual ingest whose source the caller may not overwrite --------------------------------------------


def test_an_ingested_source_that_cannot_be_overwritten_is_named_by_the_delivery_and_its_proof() -> None:
    """The command line runs as a staff member who may remove the file from their folder but not write it
    (it belongs to someone else): the delivery records that before the file goes, status warns, and the proof
    of deletion lists ``source-not-overwritten`` instead of pretending."""
    from tests.helpers_accounts import TempAccount, cli_in_process, run_as

    with traversable_folder() as base, TempAccount() as staff:
        home = make_home(base / "home")
        fast_ticks(home.root)
        agent = AgentProcess(home.root).start()
        try:
            grant_me(home.root, "destroy")
            api(home.root, "staff.add", {"account": staff.name, "name": "Mia", "roles": ["import"]})
            folder = base / "downloads"
            folder.mkdir()
            os.chown(folder, staff.uid, staff.gid)
            source = folder / "lijst.xlsx"
            source.write_bytes(b"PK\x03\x04 somebody else's file " + secrets.token_bytes(64))
            source.chmod(0o644)  # root's: the staff member may read it, and remove it from their folder
            done = run_as(staff, lambda: cli_in_process(home, "ingest", str(source), home_option=True))
            assert done.get("exit") == 0, done
            assert "could not be overwritten first (your account may not write it)" in done["stdout"]
            assert not source.exists()
            (row,) = all_deliveries(home.root)
            status = api(home.root, "status")
            assert status["sources_not_overwritten"] == {"count": 1, "by_reason": {"no-write-permission": 1}}
            assert "sources-not-overwritten" in {w["code"] for w in status["warnings"]}
            entry = audit_entries(home.root, "delivery.source-not-overwritten")
            assert [(e["actor"], e["subject"], e["details"]) for e in entry] == [
                (staff.name, [row["id"]], {"why": "no-write-permission"})]
            api(home.root, "purge.one", {"delivery": row["id"], "reason": "test"})
            assert "source-not-overwritten" in proof_doc(home.root, row["id"])["not_covered"]
        finally:
            agent.stop()
