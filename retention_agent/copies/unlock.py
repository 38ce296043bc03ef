"""``delivery unlock ID``: the workbook's password, given once, lets the agent count and fingerprint its people.

The object is decrypted from the vault into memory, the workbook decrypted and read there
(:mod:`retention_agent.copies.workbook`); only counts and fingerprints are kept. The password and a new random
fingerprint key go into the key store beside the data key, inside the same transaction that checks the
delivery is still live: a purge begins only after it (and its ``key`` step then destroys them too), never
between the check and the write. A wrong password stores nothing.
"""

from __future__ import annotations

import io
import secrets
from typing import Any

from retention_agent.clock import utc_iso
from retention_agent.copies import workbook
from retention_agent.copies.records import FINGERPRINT_KEY, WORKBOOK_PASSWORD
from retention_agent.errors import (
    DeliveryStateError,
    WorkbookColumnsError,
    WorkbookPasswordError,
    WorkbookUnreadableError,
)
from retention_agent.i18n.msgids import N_
from retention_agent.rules.delivery_states import LIVE
from retention_agent.runtime.context import AgentContext
from retention_agent.store import copies as copy_tables
from retention_agent.store.deliveries import get_live, state_of


def needs_password(ctx: AgentContext, delivery_id: str) -> bool:
    return workbook.is_encrypted(_plaintext(ctx, get_live(ctx.store, delivery_id)))


def unlock(ctx: AgentContext, account: str, delivery_id: str, password: str) -> dict[str, Any]:
    row = get_live(ctx.store, delivery_id)
    data = _plaintext(ctx, row)
    try:
        plain = workbook.decrypt(data, password)
        key = secrets.token_bytes(workbook.KEY_SIZE)
        contents = workbook.read(plain, key)
    except workbook.WrongPassword:
        raise WorkbookPasswordError(delivery=delivery_id) from None
    except workbook.NotAWorkbook as exc:
        raise WorkbookUnreadableError(delivery=delivery_id, problem=exc.problem, **exc.values) from None
    except workbook.NoNumberColumn as exc:
        shown = ", ".join(exc.found[:12]) or "-"
        raise WorkbookColumnsError(delivery=delivery_id, found=shown) from None
    del plain, data
    counts = contents.counts()
    with ctx.store.transaction():
        state = state_of(ctx.store, delivery_id)
        if state not in LIVE:  # a purge began meanwhile: it wins, nothing is stored
            raise DeliveryStateError(delivery=delivery_id, state=str(state))
        for name, secret in ((FINGERPRINT_KEY.format(row["key_id"]), key),
                             (WORKBOOK_PASSWORD.format(row["key_id"]), password.encode("utf-8"))):
            ctx.keys.delete(name)
            ctx.keys.put(name, secret)
        copy_tables.store_contents(
            ctx.store, delivery_id, rows=contents.rows, people=contents.people,
            invalid_numbers=contents.invalid_numbers, missing_numbers=contents.missing_numbers,
            duplicates=contents.duplicates, columns=",".join(contents.columns), fingerprints=contents.fingerprints,
            unlocked_at=utc_iso(ctx.clock.now()), unlocked_by=account)
        ctx.audit.append(account, "delivery.unlocked", "ok", [delivery_id], counts)
    return {"delivery": delivery_id, **counts}


def _plaintext(ctx: AgentContext, row: dict[str, Any]) -> bytes:
    if int(row["size"]) > workbook.MAX_WORKBOOK_BYTES:
        raise WorkbookUnreadableError(delivery=row["id"], problem=N_("larger than {limit} bytes"),
                                      limit=workbook.MAX_WORKBOOK_BYTES)
    out = io.BytesIO()
    ctx.vault.authenticate(row["id"], row["key_id"], out)
    return out.getvalue()
