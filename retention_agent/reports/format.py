"""The DPO report's format constants and signed bytes, shared by the agent and the offline ``dpo verify``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from retention_agent.evidence import sshsig

REPORT_FORMAT: Final = "retention-agent/dpo-report"
REPORT_VERSION: Final = 1
NAMESPACE: Final = sshsig.NAMESPACE_DPO_REPORT
MAX_REPORT_BYTES: Final = 64 * 1024 * 1024


def report_bytes(doc: Mapping[str, Any]) -> bytes:
    """The signed bytes: sorted keys, two-space indent, ASCII with ``\\uXXXX`` escapes, LF, final newline."""
    return (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=True, allow_nan=False) + "\n").encode("ascii")


def stem(doc: Mapping[str, Any]) -> str:
    """``report-<period>`` or ``report-<period>-interim``: the file names' common part."""
    period = doc["period"]
    return f"report-{period['label']}" + ("" if period.get("complete") else "-interim")
