"""Errors of the programs that run in a staff member's own session: exports and the desktop app."""

from __future__ import annotations

from retention_agent.errors.base import RetentionAgentError


class ExportWriteError(RetentionAgentError):
    error_id = "export-write"
    message = "Cannot write in {folder}: {problem}"
    hint = "Choose a folder your account may write in, where these files do not exist yet; nothing was overwritten."


class AppUnavailableError(RetentionAgentError):
    error_id = "app-unavailable"
    message = "The desktop app cannot start: {problem}"
    hint = ("Install it with pip install \"retention-agent[app]\" (on Linux also Qt's xcb libraries, see "
            "docs/administrator.md), or use the command line.")
