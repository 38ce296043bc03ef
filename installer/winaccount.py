"""Create the shared-mode service account on Windows: ``python -m retention_agent.installer.winaccount NAME``.

Uses NetUserAdd (netapi32, through ctypes: no download, no PowerShell): the password is random, never shown,
never on a command line, and set not to expire; nobody needs it, since the agent's task logs on with S4U.
An existing account is left as it is (exit code 0). Windows only; not run on the Linux test machines.
"""

from __future__ import annotations

import ctypes
import secrets
import sys

NERR_USER_EXISTS = 2224
USER_PRIV_USER = 1
UF_SCRIPT = 0x0001
UF_PASSWD_CANT_CHANGE = 0x0040
UF_NORMAL_ACCOUNT = 0x0200
UF_DONT_EXPIRE_PASSWD = 0x10000
COMMENT = "retention-agent service account (shared mode)"


class UserInfo1(ctypes.Structure):
    """USER_INFO_1 (lmaccess.h)."""

    _fields_ = [
        ("name", ctypes.c_wchar_p),
        ("password", ctypes.c_wchar_p),
        ("password_age", ctypes.c_uint32),
        ("priv", ctypes.c_uint32),
        ("home_dir", ctypes.c_wchar_p),
        ("comment", ctypes.c_wchar_p),
        ("flags", ctypes.c_uint32),
        ("script_path", ctypes.c_wchar_p),
    ]


def random_password() -> str:
    """Long and random, with the four character classes Windows' complexity rule asks for."""
    return secrets.token_urlsafe(30) + "aA1!"


def create_account(name: str) -> bool:
    """True if created, False if it already existed; OSError with the Windows error code otherwise."""
    if sys.platform != "win32":
        raise OSError("creating the service account needs Windows")
    info = UserInfo1(name, random_password(), 0, USER_PRIV_USER, None, COMMENT,
                     UF_SCRIPT | UF_NORMAL_ACCOUNT | UF_PASSWD_CANT_CHANGE | UF_DONT_EXPIRE_PASSWD, None)
    netapi32 = ctypes.WinDLL("netapi32")
    parm_err = ctypes.c_uint32(0)
    status = netapi32.NetUserAdd(None, 1, ctypes.byref(info), ctypes.byref(parm_err))
    if status == NERR_USER_EXISTS:
        return False
    if status != 0:
        raise OSError(status, f"NetUserAdd failed with status {status} (parameter {parm_err.value})")
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m retention_agent.installer.winaccount ACCOUNT\n")
        return 2
    try:
        created = create_account(args[0])
    except OSError as exc:
        sys.stderr.write(f"retention-agent: cannot create the account {args[0]}: {exc}\n")
        return 1
    sys.stdout.write(f"account {args[0]}: {'created' if created else 'exists already'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
