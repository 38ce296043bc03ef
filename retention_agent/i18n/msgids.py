"""``N_("English text")``: marks a message kept as data (a finding template, a description, a code shown to
people) so that ``scripts/messages.py`` collects it for ``locale/nl.po``. It returns the text unchanged; the
text is translated where it is shown (``i18n.translate``)."""

from __future__ import annotations


def N_(text: str) -> str:  # noqa: N802 - the gettext convention
    return text
