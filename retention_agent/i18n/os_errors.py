"""Errors of the operating system in words for people: a phrase from the catalogue, with the errno name
(``ENOENT``) as the only detail left in English, for whoever searches for it."""

from __future__ import annotations

import errno
import os

from retention_agent.i18n.catalogue import translate
from retention_agent.i18n.msgids import N_

PHRASES = {
    errno.ENOENT: N_("it does not exist"),
    errno.EACCES: N_("your account may not use it"),
    errno.EPERM: N_("the operating system does not allow it"),
    errno.EISDIR: N_("it is a folder"),
    errno.ENOTDIR: N_("a part of the path is not a folder"),
    errno.ELOOP: N_("it is a symbolic link"),
    errno.EEXIST: N_("it already exists"),
    errno.ENOSPC: N_("the disk is full"),
    errno.EDQUOT: N_("the disk quota is used up"),
    errno.EROFS: N_("the disk can only be read"),
    errno.EBUSY: N_("it is in use"),
    errno.ETXTBSY: N_("it is in use"),
    errno.EIO: N_("the disk could not be read or written"),
    errno.ENAMETOOLONG: N_("the name is too long"),
    errno.EXDEV: N_("it is on another disk"),
    errno.EINVAL: N_("the operating system refused the request"),
}
OTHER = N_("the operating system reported an error")

# strerror text (as an error of this platform says it) -> errno, for a reason that was kept as text
_BY_TEXT = {os.strerror(code): code for code in PHRASES}


def describe(error: OSError | str, lang: str | None = None) -> str:
    """``error`` (an ``OSError``, or the ``strerror`` text of one) as a phrase in ``lang``:
    ``bestaat niet (ENOENT)``. A text that is no error of this platform is returned as it is."""
    if isinstance(error, OSError):
        code: int | None = error.errno
    else:
        code = _BY_TEXT.get(error)
        if code is None:
            return error
    name = errno.errorcode.get(code, "") if code is not None else ""
    phrase = translate(PHRASES.get(code, OTHER) if code is not None else OTHER, lang)
    return f"{phrase} ({name})" if name else phrase
