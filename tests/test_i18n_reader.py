"""The command line's own .po reader reads the catalogue exactly as Babel does."""

from __future__ import annotations

from babel.messages.pofile import read_po
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_agent.i18n.catalogue import read_catalogue, read_plurals

PO = "retention_agent/locale/nl.po"


def _babel(text: str) -> dict[str, str]:
    import io

    catalog = read_po(io.BytesIO(text.encode()), locale="nl")
    return {str(m.id): str(m.string) for m in catalog if isinstance(m.id, str) and m.id and m.string and not m.fuzzy}


def _babel_plurals(text: str) -> dict[tuple[str, str], tuple[str, str]]:
    import io

    catalog = read_po(io.BytesIO(text.encode()), locale="nl")
    return {(str(m.id[0]), str(m.id[1])): (str(m.string[0]), str(m.string[1])) for m in catalog
            if isinstance(m.id, tuple) and all(m.string) and not m.fuzzy}


def test_the_shipped_catalogue_reads_the_same() -> None:
    with open(PO, encoding="utf-8") as handle:
        text = handle.read()
    assert read_catalogue(text) == _babel(text)
    assert read_plurals(text) == _babel_plurals(text)
    assert len(read_plurals(text)) >= 10


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


entries = st.lists(st.tuples(st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=40),
                             st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=40),
                             st.booleans()), max_size=8, unique_by=lambda e: e[0])


@settings(max_examples=200, deadline=None)
@given(entries)
def test_generated_catalogues_read_the_same(items: list[tuple[str, str, bool]]) -> None:
    lines = ['msgid ""', 'msgstr ""', '"Content-Type: text/plain; charset=UTF-8\\n"', ""]
    for msgid, msgstr, fuzzy in items:
        lines += (["#, fuzzy"] if fuzzy else []) + [f"msgid {_quote(msgid)}", f"msgstr {_quote(msgstr)}", ""]
    text = "\n".join(lines)
    assert read_catalogue(text) == _babel(text)
