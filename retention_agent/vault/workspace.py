"""Opened copies: plaintext a staff member asked for, kept in a private per-account folder and wiped.

The copy belongs to the agent (so it can always wipe it) and is readable by the opening account alone:
when the agent runs under another account (shared mode), a POSIX ACL entry grants that account read
access (Windows: a DACL entry, in ``windows_acl``; not run here). Copies are wiped after
``workspace.wipe_after_hours`` and at purge at the latest.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from retention_agent.system.accounts import uid_of
from retention_agent.system.home import HOME_MODE, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, Home
from retention_agent.vault.vault import overwrite_and_unlink

EXTENSIONS = {"xlsx-encrypted": ".xlsx", "xlsx": ".xlsx", "zip": ".zip", "7z": ".7z", "pdf": ".pdf"}


def account_folder(home: Home, account: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", account)[:64] or "_"
    return home.workspace / safe


def prepare_folder(home: Home, account: str) -> Path:
    folder = account_folder(home, account)
    folder.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
    folder.chmod(PRIVATE_DIR_MODE)
    home.workspace.chmod(HOME_MODE)
    grant(folder, account, "rx")
    return folder


def copy_path(home: Home, account: str, delivery_id: str, opening_id: int, file_type: str | None) -> Path:
    return account_folder(home, account) / f"{delivery_id}-{opening_id}{EXTENSIONS.get(file_type or '', '')}"


def create_copy(path: Path) -> int:
    """Open a new private file for the copy; returns the descriptor."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                   PRIVATE_FILE_MODE)


def grant(path: Path, account: str, permissions: str) -> None:
    """Let ``account`` read ``path`` when it is not the agent's own account (POSIX ACL)."""
    uid = uid_of(account)
    if uid is None or uid == os.geteuid():
        return
    subprocess.run(["setfacl", "-m", f"u:{uid}:{permissions}", str(path)], check=True,
                   capture_output=True)


def wipe(path: Path) -> None:
    overwrite_and_unlink(path)
