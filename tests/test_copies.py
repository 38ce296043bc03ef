"""The copy sweep's parts on real files: national numbers, the workbook, the document readers, the walk (links,
sizes, the cache), the erase, and the checks on what a session may send.

Real: files and folders on this file system, symbolic links, hard links, msoffcrypto-tool and openpyxl on an
encrypted workbook, pypdf on a PDF made by fpdf2. The agent's side is in tests/test_copies_agent.py.
"""

from __future__ import annotations

import os
import secrets
from collections import Counter
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from retention_agent.copies import readers, wire, workbook
from retention_agent.copies.cache import Cache, load, save
from retention_agent.copies.erase import erase
from retention_agent.copies.locations import Location, default_locations, xdg_user_dirs
from retention_agent.copies.sweep import Matcher, sweep
from retention_agent.rules import rrn
from tests import copies_support as fixtures

KEY = bytes(range(32))


# ---- national register numbers -------------------------------------------------------------------------------


def test_check_digits_follow_the_rule_of_before_and_after_2000() -> None:
    assert rrn.is_valid("85073003328")  # 97 - 850730033 mod 97 = 28
    assert not rrn.is_valid("85073003329")
    born_2001 = rrn.make((2001, 1, 1), 123)
    assert born_2001[-2:] == f"{97 - int('2010101123') % 97:02d}" and rrn.is_valid(born_2001)
    assert rrn.check_digits("010101123", born_2000_or_later=False) != int(born_2001[-2:])  # only the 2000 rule
    assert rrn.is_valid(rrn.make((1990, 25 - 20, 3), 7)) and not rrn.is_valid("85133003328")  # month 13


def test_numbers_are_found_with_and_without_dots_and_dashes_and_not_inside_longer_digit_runs() -> None:
    text = "a 85.07.30-033.28 b 85073003328 c 85 07 30 033 28 d 185073003328 e 85.07.30-033.29"
    assert list(rrn.find(text)) == ["85073003328"] * 3
    assert list(rrn.find_bytes(text.encode())) == ["85073003328"] * 3
    assert rrn.from_number(1010112345) is None or rrn.is_valid(f"{1010112345:011d}")
    number = rrn.make((2001, 1, 1), 123)
    assert rrn.from_number(float(int(number))) == number  # Excel drops the leading zero


# ---- the workbook ------------------------------------------------------------------------------------------


def test_an_unlocked_workbook_gives_counts_and_fingerprints_never_numbers() -> None:
    numbers = fixtures.people(40)
    table = fixtures.rows(numbers)
    table.append(("12.34.56-789.00", "Fout", "", "", "", "", "", "", ""))  # wrong check digits
    table.append(("", "Zonder nummer", "", "", "", "", "", "", ""))
    table.append(table[0])  # the same person twice
    data = fixtures.encrypted(fixtures.xlsx(table))
    assert workbook.is_encrypted(data)
    with pytest.raises(workbook.WrongPassword):
        workbook.decrypt(data, "wrong")
    contents = workbook.read(workbook.decrypt(data, fixtures.PASSWORD), KEY)
    assert (contents.rows, contents.people, contents.invalid_numbers, contents.missing_numbers,
            contents.duplicates) == (43, 40, 1, 1, 1)
    assert set(contents.columns) == {"name", "address", "email", "phone", "certificate_date"}
    assert workbook.split_fingerprints(contents.fingerprints) == {workbook.fingerprint(KEY, d) for d in numbers}
    for digits in numbers:
        assert digits.encode() not in contents.fingerprints


def test_a_workbook_without_a_number_column_is_refused_naming_the_columns_found() -> None:
    plain = fixtures.xlsx([("Jan", "Gent")], header=("Naam", "Gemeente"))
    with pytest.raises(workbook.NoNumberColumn) as caught:
        workbook.read(plain, KEY)
    assert caught.value.found == ["gemeente", "naam"]
    with pytest.raises(workbook.NotAWorkbook):
        workbook.read(b"PK\x03\x04 not really", KEY)


# ---- the readers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "utf16", "xlsx", "docx", "pdf"])
def test_each_reader_finds_the_people_in_its_kind_of_document(kind: str) -> None:
    numbers = fixtures.people(12)
    written = [rrn.written(d) for d in numbers]
    data = {"csv": fixtures.mail_merge_csv(numbers),
            "utf16": ("\ufeff" + "\r\n".join(written)).encode("utf-16-le"),
            "xlsx": fixtures.xlsx(fixtures.rows(numbers)),
            "docx": fixtures.docx(written),
            "pdf": fixtures.pdf(written)}[kind]
    reader = {"csv": "text", "utf16": "text"}.get(kind, kind)
    assert readers.numbers(reader, data, deadline=1e18) == set(numbers)


def test_a_zip_bomb_and_a_slow_document_end_as_unreadable() -> None:
    import io
    import zipfile
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("xl/sharedStrings.xml", fixtures.FIXED_ZIP_TIME),
                         b"0" * (readers.MAX_INFLATED + 10))
    with pytest.raises(readers.Unreadable) as caught:
        readers.numbers("xlsx", buffer.getvalue(), deadline=1e18)
    assert caught.value.why == "inflated-too-large"
    with pytest.raises(readers.Unreadable) as late:
        readers.numbers("text", b"85.07.30-033.28\n" * 100_000, deadline=0.0, clock=lambda: 1.0)
    assert late.value.why == "time"


# ---- locations ------------------------------------------------------------------------------------------------


def test_windows_defaults_include_outlooks_cache_autorecover_unsaved_files_temp_and_onedrive() -> None:
    env = {"LOCALAPPDATA": r"C:\Users\mia\AppData\Local", "APPDATA": r"C:\Users\mia\AppData\Roaming",
           "TEMP": r"C:\Users\mia\AppData\Local\Temp", "OneDriveCommercial": r"C:\Users\mia\OneDrive - Gemeente"}
    found = {(loc.kind, str(loc.path)) for loc in default_locations("win32", env, PureWindowsPath(r"C:\Users\mia"))}
    assert ("outlook-cache", r"C:\Users\mia\AppData\Local\Microsoft\Windows\INetCache\Content.Outlook") in found
    assert ("office-unsaved", r"C:\Users\mia\AppData\Local\Microsoft\Office\UnsavedFiles") in found
    assert ("office-autorecover", r"C:\Users\mia\AppData\Roaming\Microsoft\Excel") in found
    assert ("onedrive", r"C:\Users\mia\OneDrive - Gemeente") in found
    assert {kind for kind, _ in found} >= {"desktop", "documents", "downloads", "temp"}


def test_linux_defaults_follow_the_translated_user_folders() -> None:
    home = PurePosixPath("/home/mia")
    text = 'XDG_DESKTOP_DIR="$HOME/Bureaublad"\nXDG_DOCUMENTS_DIR="$HOME/Documenten"\n# comment\n'
    assert xdg_user_dirs(text, home)["DESKTOP"] == home / "Bureaublad"
    found = {loc.kind: loc for loc in default_locations("linux", {}, home, text)}
    assert found["documents"].path == home / "Documenten" and found["downloads"].path == home / "Downloads"
    assert found["temp"].own_files_only and found["trash"].path == home / ".local/share/Trash/files"


# ---- the sweep -------------------------------------------------------------------------------------------------


def _targets(delivery: bytes, numbers: list[str] | None = None, **settings: object) -> wire.Targets:
    import hashlib
    derived = ()
    if numbers is not None:
        derived = (wire.Derived("D1", KEY, frozenset(workbook.fingerprint(KEY, d) for d in numbers)),)
    return wire.Targets(exact=(wire.Exact("D1", len(delivery), hashlib.sha256(delivery).hexdigest()),),
                        derived=derived, settings=wire.Settings(**settings))  # type: ignore[arg-type]


def test_the_sweep_finds_copies_under_other_names_and_lists_with_the_people_and_nothing_else(tmp_path: Path) -> None:
    delivery, numbers = fixtures.agii_workbook(30)
    docs, downloads, outside = tmp_path / "Documents", tmp_path / "Downloads", tmp_path / "elsewhere"
    for folder in (docs / "Ceremonie", downloads, outside):
        folder.mkdir(parents=True)
    (downloads / "inburgeraars.xlsx").write_bytes(delivery)
    (docs / "Ceremonie" / "kopie van lijst.xlsx").write_bytes(delivery)
    (docs / "brieven.csv").write_bytes(fixtures.mail_merge_csv(numbers[:7]))
    (docs / "same size.bin").write_bytes(secrets.token_bytes(len(delivery)))  # a candidate, hashed, not equal
    (docs / "other.csv").write_bytes(fixtures.mail_merge_csv(fixtures.people(5, first_serial=500)))
    (outside / "far away.xlsx").write_bytes(delivery)
    (docs / "link to far away.xlsx").symlink_to(outside / "far away.xlsx")  # never followed
    (docs / "linked folder").symlink_to(outside, target_is_directory=True)  # never entered
    cache = Cache()
    locations = [Location("documents", docs), Location("downloads", downloads)]
    result = sweep(locations, Matcher(_targets(delivery, numbers)), cache)
    found = sorted((f.match, f.kind, "/".join(f.parts), f.people) for f in result.found)
    assert found == [("derived", "documents", "brieven.csv", 7),
                     ("exact", "documents", "Ceremonie/kopie van lijst.xlsx", 0),
                     ("exact", "downloads", "inburgeraars.xlsx", 0)]
    assert result.complete and result.stats["links"] == 2 and result.stats["hashed"] == 3
    assert [(r.kind, r.state, r.files) for r in result.locations] == [("documents", "swept", 4),
                                                                        ("downloads", "swept", 1)]
    again = sweep(locations, Matcher(_targets(delivery, numbers)), cache)  # nothing changed: nothing is read
    assert sorted((f.match, "/".join(f.parts)) for f in again.found) == sorted((m, p) for m, _, p, _ in found)
    assert again.stats["hashed"] == 0 and again.stats["documents"] == 0 and again.stats["cached"] == 5
    (docs / "brieven.csv").write_bytes(fixtures.mail_merge_csv(numbers[:2]))  # changed: read again
    third = sweep(locations, Matcher(_targets(delivery, numbers)), cache)
    assert third.stats["documents"] == 1 and [f.people for f in third.found if f.match == "derived"] == [2]


def test_a_document_over_the_limit_is_never_read_and_a_broken_one_does_not_stop_the_sweep(tmp_path: Path) -> None:
    delivery, numbers = fixtures.agii_workbook(10)
    (tmp_path / "groot.csv").write_bytes(fixtures.mail_merge_csv(numbers) * 50)
    (tmp_path / "kapot.docx").write_bytes(b"PK\x03\x04" + secrets.token_bytes(500))
    (tmp_path / "kapot.pdf").write_bytes(b"%PDF-1.7\n" + secrets.token_bytes(2000))
    (tmp_path / "lijst.csv").write_bytes(fixtures.mail_merge_csv(numbers))
    result = sweep([Location("documents", tmp_path)], Matcher(_targets(delivery, numbers, max_document_bytes=4000)),
                   Cache())
    assert [("/".join(f.parts), f.people) for f in result.found] == [("lijst.csv", 10)]
    assert result.stats["too_large"] == 1 and result.stats["unreadable"] == 2


def test_the_cache_holds_no_file_names_but_those_of_found_copies(tmp_path: Path) -> None:
    delivery, numbers = fixtures.agii_workbook(10)
    (tmp_path / "Verslag Peeters Jan.csv").write_bytes(b"nothing to see\n")
    (tmp_path / "lijst.xlsx").write_bytes(delivery)
    cache = Cache()
    result = sweep([Location("documents", tmp_path)], Matcher(_targets(delivery, numbers)), cache)
    cache.copies = []
    save(tmp_path / "state" / "cache.json", cache)
    text = (tmp_path / "state" / "cache.json").read_text()
    assert "Peeters" not in text and "lijst" not in text and len(result.found) == 1
    assert load(tmp_path / "state" / "cache.json").entries == cache.entries
    assert oct((tmp_path / "state" / "cache.json").stat().st_mode & 0o777) == "0o600"


# ---- the erase ---------------------------------------------------------------------------------------------------


def test_an_exact_copy_is_overwritten_then_unlinked_and_a_changed_one_is_left(tmp_path: Path) -> None:
    import hashlib
    content = secrets.token_bytes(70_000)
    copy = tmp_path / "sub" / "kopie.xlsx"
    copy.parent.mkdir()
    copy.write_bytes(content)
    reader = os.open(copy, os.O_RDONLY)  # still sees the inode after the unlink
    try:
        outcome = erase(str(tmp_path), ["sub", "kopie.xlsx"], sha256=hashlib.sha256(content).hexdigest(),
                        signature=None)
        assert outcome == ("erased", "") and not copy.exists()
        assert os.pread(reader, len(content), 0) == bytes(len(content))  # zeros, not the delivery
    finally:
        os.close(reader)
    copy.write_bytes(content + b"edited")
    assert erase(str(tmp_path), ["sub", "kopie.xlsx"], sha256=hashlib.sha256(content).hexdigest(),
                 signature=None) == ("remaining", "changed")
    assert copy.read_bytes() == content + b"edited"
    assert erase(str(tmp_path), ["sub", "nothing.xlsx"], sha256="0" * 64, signature=None) == ("gone", "")


def test_a_hard_link_or_a_link_swapped_in_is_left_alone(tmp_path: Path) -> None:
    import hashlib
    content = secrets.token_bytes(5000)
    digest = hashlib.sha256(content).hexdigest()
    (tmp_path / "a.xlsx").write_bytes(content)
    os.link(tmp_path / "a.xlsx", tmp_path / "b.xlsx")
    assert erase(str(tmp_path), ["a.xlsx"], sha256=digest, signature=None) == ("remaining", "hard-link")
    (tmp_path / "b.xlsx").unlink()
    target = tmp_path / "keep" / "precious.xlsx"
    target.parent.mkdir()
    target.write_bytes(content)
    (tmp_path / "sub").symlink_to(target.parent, target_is_directory=True)
    assert erase(str(tmp_path), ["sub", "precious.xlsx"], sha256=digest, signature=None) == ("remaining",
                                                                                             "not-a-file")
    (tmp_path / "c.xlsx").symlink_to(target)
    assert erase(str(tmp_path), ["c.xlsx"], sha256=digest, signature=None) == ("remaining", "not-a-file")
    assert target.read_bytes() == content


# ---- what a session may send -------------------------------------------------------------------------------


def _report(**found: object) -> dict[str, object]:
    item = {"delivery": "D1", "match": "exact", "kind": "downloads", "path": "lijst.xlsx", "people": 0, **found}
    return {"complete": True, "locations": [{"kind": "downloads", "state": "swept", "files": 3}],
            "stats": {"files": 3}, "found": [item], "settled": []}


@pytest.mark.parametrize("bad", [{"path": "lijst\x1b[31m.xlsx"}, {"path": "/etc/passwd"}, {"path": "x" * 401},
                                 {"kind": "root"}, {"match": "fuzzy"}, {"delivery": "../x"}, {"people": -1},
                                 {"people": True}])
def test_a_report_with_anything_unexpected_is_refused_whole(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        wire.parse_report(_report(**bad))
    assert wire.parse_report(_report()).found[0].path == "lijst.xlsx"


def test_paths_are_made_printable_before_they_are_sent() -> None:
    assert wire.printable_path(["Ceremonie", "lijst\nmet\x1bescape.csv"]) == "Ceremonie/lijst?met?escape.csv"
    assert len(wire.printable_path(["a" * 1000])) == wire.MAX_PATH
    assert wire.parse_report(_report(path=wire.printable_path(["x\t" * 300]))).found


def test_stats_are_counts_of_known_names_only() -> None:
    with pytest.raises(ValueError):
        wire.parse_report({**_report(), "stats": {"files": 1, "Verslag Peeters.docx": 1}})
    assert dict(wire.parse_report(_report()).stats) == {**dict.fromkeys(wire.STATS, 0), "files": 3}
    assert Counter(wire.STATS)["files"] == 1


# ---- the proof's copies section --------------------------------------------------------------------------------


def _section(**exact: int) -> dict[str, object]:
    from retention_agent.copies.records import proof_section
    counts = {"accounts_swept": 1, "last_swept_at": "2026-11-27T10:00:00Z", "locations": ["documents", "downloads"],
              "derived_searched": True, "exact": {"found": 2, "erased": 2, "gone": 0, "remaining": 0, **exact},
              "derived": {"found": 1, "erased": 0, "gone": 0, "remaining": 1, "people_max": 60},
              "by_location": [{"kind": "documents", "found": 3, "erased": 2, "gone": 0, "remaining": 1}],
              "remaining_reasons": {"no-write-permission": 1}}
    return proof_section(counts)


def test_a_remaining_copy_is_named_in_not_covered_and_counts_that_do_not_add_up_are_refused() -> None:
    from retention_agent.errors import DocumentInvalidError
    from retention_agent.evidence import proof, proof_build, proof_verify
    from tests.test_proof import KEY as SIGNER
    from tests.test_proof import _facts, _signed
    doc = proof_build.build_proof(_facts(copies=_section()))
    assert proof.WORKSTATION_COPIES_REMAINING in doc["not_covered"]
    assert proof.WORKSTATIONS_NOT_SWEPT not in doc["not_covered"]
    data, signature = proof_build.sign_proof(doc, SIGNER)
    assert proof_verify.verify_proof(data, signature, SIGNER.public_bytes())["copies"]["derived"]["remaining"] == 1
    with pytest.raises(ValueError, match="found = erased"):
        proof_build.build_proof(_facts(copies=_section(erased=1)))
    with pytest.raises(ValueError, match="by_location"):  # a path can never slip into the section
        proof_build.build_proof(_facts(copies={**_section(), "by_location": [
            {"kind": "documents", "found": 0, "erased": 0, "gone": 0, "remaining": 0, "path": "lijst.csv"}]}))
    old = {k: v for k, v in doc.items() if k not in ("copies", "mailbox_copies")}  # as version 1 wrote them
    old["version"] = 1
    data, signature = _signed(old)
    assert proof_verify.verify_proof(data, signature, SIGNER.public_bytes())["version"] == 1  # earlier proofs verify
    data, signature = _signed({**old, "copies": doc["copies"]})
    with pytest.raises(DocumentInvalidError):  # a version 1 proof has no copies
        proof_verify.verify_proof(data, signature, SIGNER.public_bytes())
