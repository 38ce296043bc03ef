"""Operating-system accounts: does a name exist here (POSIX passwd; Windows accounts are not checked)."""

from __future__ import annotations

import os


def account_exists(account: str) -> bool:
    if os.name != "posix":
        return bool(account.strip())
    import pwd

    try:
        pwd.getpwnam(account)
    except KeyError:
        return False
    return True


def current_account() -> str:
    if os.name != "posix":
        return os.environ.get("USERNAME", "")
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def uid_of(account: str) -> int | None:
    if os.name != "posix":
        return None
    import pwd

    try:
        return pwd.getpwnam(account).pw_uid
    except KeyError:
        return None
