"""The desktop app (``retention-agent app``): a window for staff and the privacy officer, Dutch by default.

It is a thin client of the agent's local API, exactly like the command line: it connects to the agent's
socket (named pipe on Windows), so the agent knows the user from the operating system; it never opens the
home, the database or the key store, and it shows only what the API answers for that account.

Qt-free logic is kept in plain modules that are tested without Qt:

- ``roles.py``: which views and actions a user's roles allow (from ``access.REQUIRED_ROLES``);
- ``words.py``: the codes the API returns (states, channels, purposes, audit actions) in words;
- ``rows.py``, ``audit_rows.py``, ``timeline.py``: table columns, rows, filters and the timeline's geometry;
- ``status_page.py``: the officer's status as a page;
- ``session.py``: the calls to the API, and the files the app writes or reads with the user's own rights.

The Qt modules (``qt_*.py``, ``window.py``, ``view_*.py``, ``dialogs.py``, ``tray.py``, ``main.py``) only show
them; PySide6 is the optional extra ``retention-agent[app]``.
"""
