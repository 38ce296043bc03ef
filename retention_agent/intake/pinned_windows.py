"""Windows drop folders pinned by handle: the same contract as :mod:`.pinned`, with Windows' means.

- The folder is opened once with ``CreateFileW(FILE_LIST_DIRECTORY, FILE_FLAG_BACKUP_SEMANTICS |
  FILE_FLAG_OPEN_REPARSE_POINT)`` and **without** ``FILE_SHARE_DELETE``: while the agent holds it, nobody can
  rename or delete the folder. Every ancestor and the folder itself are checked for
  ``FILE_ATTRIBUTE_REPARSE_POINT`` (symbolic links, junctions, mount points): one is refused
  (``folder-link-in-path``), never followed.
- Its identity is the volume serial number and the 64-bit file index (``GetFileInformationByHandle``);
  before every scan the path is opened again the same way and must give the same identity
  (``folder-swapped`` otherwise).
- Windows has no ``openat``: a source is opened by its path under the folder with
  ``FILE_FLAG_OPEN_REPARSE_POINT`` and no sharing, and then proven to be inside the pinned folder: it is not
  a reparse point, and the final path of its handle (``GetFinalPathNameByHandleW``) is the final path of the
  folder's handle plus its name. Renames and deletes go through paths only after such a check.
- A folder inside the agent's home or a key-store folder (Credential Manager's and DPAPI's folders under
  ``%APPDATA%`` and ``%LOCALAPPDATA%``) is refused by comparing final paths.

Not done on Windows: the ACLs of the ancestors are not judged (``folder-unsafe-parent`` is never raised
there); the ``icacls`` set-up in ``docs/administrator.md`` is what keeps other accounts out. None of this has
run on Windows: the tests drive :class:`WindowsPinnedFolder` through a fake :class:`WinApi` on Linux.
"""

from __future__ import annotations

import ntpath
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import Protocol

from retention_agent.intake.pinned_types import (
    FOLDER_INSIDE_HOME,
    FOLDER_LINK,
    FOLDER_MISSING,
    FOLDER_SWAPPED,
    FOLDER_UNAVAILABLE,
    DirIdentity,
    FolderRefused,
    lexists,
)

FILE_ATTRIBUTE_DIRECTORY = 0x10
FILE_ATTRIBUTE_REPARSE_POINT = 0x400
ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND = 2, 3


@dataclass(frozen=True)
class HandleInfo:
    """What ``GetFileInformationByHandle`` says about an open handle (only what the rules need)."""

    attributes: int
    volume: int
    index: int
    links: int
    final_path: str  # GetFinalPathNameByHandleW, normalised (no \\?\ prefix)


class WinApi(Protocol):
    """The few Win32 calls the pinned folder makes; :class:`_Kernel32` is the real one."""

    def open_directory(self, path: str) -> int: ...

    def open_file(self, path: str, *, write: bool) -> int: ...

    def info(self, handle: int) -> HandleInfo: ...

    def attributes(self, path: str) -> int: ...

    def close(self, handle: int) -> None: ...


# ---- pure rules ----------------------------------------------------------------------------------------


def is_reparse_point(attributes: int) -> bool:
    return bool(attributes & FILE_ATTRIBUTE_REPARSE_POINT)


def normal_final_path(path: str) -> str:
    """A final path as compared here: without ``\\\\?\\`` (or ``\\\\?\\UNC\\``), case-folded, no trailing slash."""
    text = path
    if text.startswith("\\\\?\\UNC\\"):
        text = "\\\\" + text[8:]
    elif text.startswith("\\\\?\\"):
        text = text[4:]
    return ntpath.normpath(text).rstrip("\\").casefold()


def directly_inside(folder_final: str, file_final: str, name: str) -> bool:
    """Whether an opened file's final path is the pinned folder's final path plus exactly ``name``."""
    return normal_final_path(file_final) == normal_final_path(ntpath.join(folder_final, name))


def lies_within(final: str, protected_final: str) -> bool:
    inner, outer = normal_final_path(final), normal_final_path(protected_final)
    return inner == outer or inner.startswith(outer + "\\")


def ancestors(path: str) -> list[str]:
    """``C:\\a\\b\\c`` → ``[C:\\a, C:\\a\\b, C:\\a\\b\\c]`` (the drive itself is never a reparse point)."""
    pure = PureWindowsPath(path)
    found, current = [], PureWindowsPath(pure.anchor)
    for part in pure.parts[1:]:
        current = current / part
        found.append(str(current))
    return found


# ---- the pinned folder ----------------------------------------------------------------------------------


class WindowsPinnedFolder:
    def __init__(self, path: Path, api: WinApi, protected: Sequence[Path]) -> None:
        self.path = path
        self._api = api
        self._protected = tuple(protected)
        self._handle = _open_checked(api, str(path))
        try:
            info = api.info(self._handle)
            self._judge(info)
        except BaseException:
            api.close(self._handle)
            raise
        self.identity = DirIdentity(info.volume, info.index)
        self._final = info.final_path

    @property
    def handle_path(self) -> str | None:
        return None

    def check(self) -> None:
        try:
            handle = _open_checked(self._api, str(self.path))
        except FolderRefused as refused:
            if refused.code == FOLDER_UNAVAILABLE:
                raise
            raise FolderRefused(FOLDER_SWAPPED) from None
        try:
            info = self._api.info(handle)
            if DirIdentity(info.volume, info.index) != self.identity:
                raise FolderRefused(FOLDER_SWAPPED)
            self._judge(info)
        finally:
            self._api.close(handle)

    def _judge(self, info: HandleInfo) -> None:
        for folder in self._protected:
            try:
                handle = self._api.open_directory(str(folder))
            except OSError:
                continue
            try:
                if lies_within(info.final_path, self._api.info(handle).final_path):
                    raise FolderRefused(FOLDER_INSIDE_HOME)
            finally:
                self._api.close(handle)

    def names(self) -> set[str]:
        return {entry.name for entry in Path(self._final).iterdir()}

    def lstat(self, name: str) -> os.stat_result:
        return Path(self._inside(name)).lstat()

    def exists(self, name: str) -> bool:
        return lexists(self, name)

    def open_read(self, name: str) -> int:
        return self._open_proven(name, write=False)

    def reopen_for_writing(self, fd: int, name: str) -> int:
        return self._open_proven(name, write=True)

    def _open_proven(self, name: str, *, write: bool) -> int:
        """Open ``name`` and prove the handle is a plain file directly in the pinned folder."""
        import msvcrt

        handle = self._api.open_file(self._inside(name), write=write)
        try:
            info = self._api.info(handle)
            if is_reparse_point(info.attributes) or not directly_inside(self._final, info.final_path, name):
                raise OSError(22, "not a plain file of the drop folder")
        except BaseException:
            self._api.close(handle)
            raise
        return msvcrt.open_osfhandle(handle, os.O_WRONLY if write else os.O_RDONLY)  # type: ignore[attr-defined]

    def rename(self, src: str, dst: str) -> None:
        Path(self._inside(src)).rename(self._inside(dst))

    def link(self, src: str, dst: str) -> None:
        os.link(self._inside(src), self._inside(dst), follow_symlinks=False)

    def unlink(self, name: str) -> None:
        Path(self._inside(name)).unlink()

    def close(self) -> None:
        handle, self._handle = self._handle, -1
        if handle >= 0:
            self._api.close(handle)

    def _inside(self, name: str) -> str:
        if not name or name in (".", "..") or any(c in name for c in "\\/:\0"):
            raise ValueError("not a name inside the folder")
        return ntpath.join(self._final, name)


def _open_checked(api: WinApi, path: str) -> int:
    """Refuse a reparse point anywhere on the way, then open the folder itself without following one."""
    for step in ancestors(path):
        try:
            attributes = api.attributes(step)
        except FileNotFoundError:
            raise FolderRefused(FOLDER_MISSING) from None
        except OSError:
            raise FolderRefused(FOLDER_UNAVAILABLE) from None
        if is_reparse_point(attributes) or not attributes & FILE_ATTRIBUTE_DIRECTORY:
            raise FolderRefused(FOLDER_LINK)
    try:
        handle = api.open_directory(path)
    except FileNotFoundError:
        raise FolderRefused(FOLDER_MISSING) from None
    except OSError:
        raise FolderRefused(FOLDER_UNAVAILABLE) from None
    try:
        info = api.info(handle)
        if is_reparse_point(info.attributes) or not info.attributes & FILE_ATTRIBUTE_DIRECTORY:
            raise FolderRefused(FOLDER_LINK)
    except BaseException:
        api.close(handle)
        raise
    return handle


def pin_windows(path: Path, *, protected: Sequence[Path]) -> WindowsPinnedFolder:  # pragma: no cover - Windows
    return WindowsPinnedFolder(path, _Kernel32(), protected)


def allocated_bytes(fd: int) -> int:  # pragma: no cover - Windows
    """The bytes the file system allocated for an open file (``FILE_STANDARD_INFO.AllocationSize``)."""
    import msvcrt

    return _Kernel32().allocated(msvcrt.get_osfhandle(fd))  # type: ignore[attr-defined]


class _Kernel32:  # pragma: no cover - Windows; not run on the Linux test machines
    """The real Win32 calls, through ctypes."""

    GENERIC_READ, GENERIC_WRITE = 0x80000000, 0x40000000
    FILE_LIST_DIRECTORY = 0x0001
    FILE_SHARE_READ, FILE_SHARE_WRITE = 0x1, 0x2
    OPEN_EXISTING = 3
    FILE_FLAG_BACKUP_SEMANTICS = 0x02000000
    FILE_FLAG_OPEN_REPARSE_POINT = 0x00200000
    INVALID_HANDLE_VALUE = -1
    INVALID_FILE_ATTRIBUTES = 0xFFFFFFFF

    def __init__(self) -> None:
        import ctypes
        from ctypes import wintypes

        self._ctypes = ctypes
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        self._create = kernel32.CreateFileW
        self._create.restype = wintypes.HANDLE
        self._create.argtypes = [wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID,
                                 wintypes.DWORD, wintypes.DWORD, wintypes.HANDLE]
        self._close = kernel32.CloseHandle
        self._attributes = kernel32.GetFileAttributesW
        self._attributes.restype = wintypes.DWORD
        self._info = kernel32.GetFileInformationByHandle
        self._final = kernel32.GetFinalPathNameByHandleW
        self._final.restype = wintypes.DWORD

        class _Info(ctypes.Structure):
            _fields_ = [("attributes", wintypes.DWORD), ("created", wintypes.FILETIME),
                        ("accessed", wintypes.FILETIME), ("written", wintypes.FILETIME),
                        ("volume", wintypes.DWORD), ("size_high", wintypes.DWORD), ("size_low", wintypes.DWORD),
                        ("links", wintypes.DWORD), ("index_high", wintypes.DWORD), ("index_low", wintypes.DWORD)]

        self._info_type = _Info

    def _handle(self, path: str, access: int, share: int, flags: int) -> int:
        handle = self._create(path, access, share, None, self.OPEN_EXISTING, flags, None)
        if handle is None or handle == self.INVALID_HANDLE_VALUE:
            code = self._ctypes.get_last_error()  # type: ignore[attr-defined]
            if code in (ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND):
                raise FileNotFoundError(code, path)
            raise self._ctypes.WinError(code)  # type: ignore[attr-defined]
        return int(handle)

    def open_directory(self, path: str) -> int:
        # no FILE_SHARE_DELETE: the folder cannot be renamed or removed while the agent holds it
        return self._handle(path, self.FILE_LIST_DIRECTORY, self.FILE_SHARE_READ | self.FILE_SHARE_WRITE,
                            self.FILE_FLAG_BACKUP_SEMANTICS | self.FILE_FLAG_OPEN_REPARSE_POINT)

    def open_file(self, path: str, *, write: bool) -> int:
        access = self.GENERIC_WRITE if write else self.GENERIC_READ
        return self._handle(path, access, 0, self.FILE_FLAG_OPEN_REPARSE_POINT)  # no sharing: see folder.py

    def info(self, handle: int) -> HandleInfo:
        data = self._info_type()
        if not self._info(handle, self._ctypes.byref(data)):
            raise self._ctypes.WinError(self._ctypes.get_last_error())  # type: ignore[attr-defined]
        buffer = self._ctypes.create_unicode_buffer(32768)
        length = self._final(handle, buffer, len(buffer), 0)
        if not length:
            raise self._ctypes.WinError(self._ctypes.get_last_error())  # type: ignore[attr-defined]
        return HandleInfo(attributes=data.attributes, volume=data.volume,
                          index=(data.index_high << 32) | data.index_low, links=data.links,
                          final_path=buffer.value)

    def allocated(self, handle: int) -> int:
        import ctypes
        from ctypes import wintypes

        class _Standard(ctypes.Structure):
            _fields_ = [("allocation", ctypes.c_longlong), ("end", ctypes.c_longlong), ("links", wintypes.DWORD),
                        ("delete_pending", wintypes.BOOLEAN), ("directory", wintypes.BOOLEAN)]

        data = _Standard()
        get = ctypes.WinDLL("kernel32", use_last_error=True).GetFileInformationByHandleEx  # type: ignore[attr-defined]
        if not get(handle, 1, ctypes.byref(data), ctypes.sizeof(data)):  # 1: FileStandardInfo
            raise ctypes.WinError(ctypes.get_last_error())  # type: ignore[attr-defined]
        return int(data.allocation)

    def attributes(self, path: str) -> int:
        value = int(self._attributes(path))
        if value == self.INVALID_FILE_ATTRIBUTES:
            code = self._ctypes.get_last_error()  # type: ignore[attr-defined]
            if code in (ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND):
                raise FileNotFoundError(code, path)
            raise self._ctypes.WinError(code)  # type: ignore[attr-defined]
        return value

    def close(self, handle: int) -> None:
        self._close(handle)
