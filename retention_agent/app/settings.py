"""The app's own settings of this user (the chosen language), in the user's configuration folder.

Nothing here is a secret or personal data; the file is the user's own. Qt-free, so it is tested without Qt.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import platformdirs

from retention_agent.i18n import catalogue as i18n


def settings_file() -> Path:
    return platformdirs.user_config_path("retention-agent", appauthor=False) / "app.json"


def saved_language(path: Path | None = None) -> str | None:
    try:
        value = json.loads((path or settings_file()).read_text(encoding="utf-8")).get("lang")
    except (OSError, ValueError, AttributeError):
        return None
    return value if value in i18n.LANGUAGES else None


def save_language(lang: str, path: Path | None = None) -> None:
    target = path or settings_file()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = target.with_name(target.name + ".tmp")
    temp.write_text(json.dumps({"lang": lang}) + "\n", encoding="utf-8")
    temp.replace(target)


def choose_language(explicit: str | None, path: Path | None = None) -> str:
    """``--lang``, else ``$RETENTION_AGENT_LANG``, else the language chosen in the app before, else Dutch."""
    if explicit in i18n.LANGUAGES:
        return str(explicit)
    if os.environ.get("RETENTION_AGENT_LANG"):
        return i18n.current_language()
    return saved_language(path) or i18n.DEFAULT_LANGUAGE
