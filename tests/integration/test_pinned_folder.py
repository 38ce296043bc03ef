"""Drop folders pinned by handle (intake/pinned.py): the pure rules, then real folders, links, ACLs and accounts.

The tests of this subject that run the real agent process, Dovecot or OS accounts; the rest are in
tests/unit/test_pinned_folder.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from retention_agent.intake import pinned
from tests.support.accounts import needs_root, temporary_account
from tests.unit.test_pinned_folder import area_fixture, refused  # noqa: F401 - the fixture `area`


@needs_root
def test_parents_writable_by_real_accounts(area: Path) -> None:
    """Real accounts and a real ACL: who may write the folders above decides, not the folder's own mode."""
    with temporary_account("ra-owner") as owner, temporary_account("ra-other") as other:
        owner_uid, other_uid = owner.uid, other.uid
        share = area / "share"
        drop = share / "drop"
        drop.mkdir(parents=True)
        os.chown(drop, owner_uid, -1)
        share.chmod(0o755)
        os.chown(share, owner_uid, -1)  # the drop folder's owner may write its parent: allowed
        pinned.pin(drop).close()
        os.chown(share, other_uid, -1)  # another account owns the parent: it could replace the folder
        assert refused(drop) == pinned.FOLDER_UNSAFE_PARENT
        os.chown(share, 0, 0)
        pinned.pin(drop).close()
        if shutil.which("setfacl") is None:
            pytest.fail("setfacl is missing: scripts/setup-venv.sh --test installs the acl package")
        subprocess.run(["setfacl", "-m", f"u:{other.name}:rwx", str(share)], check=True)
        assert refused(drop) == pinned.FOLDER_UNSAFE_PARENT
        subprocess.run(["setfacl", "-m", "m::r-x", str(share)], check=True)  # the mask takes the write away
        pinned.pin(drop).close()
        subprocess.run(["setfacl", "-b", str(share)], check=True)
        pinned.pin(drop).close()
