"""The table, docs/RELIABILITY.md (between its markers) and the raw output file."""

import datetime
import os
import platform
import sys
from pathlib import Path

from .context import Row
from .procs import ROOT

DOC = ROOT / "docs" / "RELIABILITY.md"
BEGIN, END = "<!-- reliability:begin -->", "<!-- reliability:end -->"
COLUMNS = [
    "scenario / fault",
    "load",
    "lost",
    "duplicated",
    "windows over the limit",
    "recovery time",
    "figures",
    "goal",
]

# Used only if docs/RELIABILITY.md is missing (it holds the scenarios and goals).
INTRO = "# Reliability: faults against real processes\n\nSee scripts/reliability.py.\n\n"


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        verdict = row.verdict + (f": {'; '.join(row.failures)}" if row.failures else "")
        cells = [row.scenario, row.load, row.lost, row.duplicated, row.windows, row.recovery]
        cells += [row.figures, verdict]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    cores = len(os.sched_getaffinity(0))
    return f"{cores} CPUs (nproc), {platform.platform()}, Python {sys.version.split()[0]}"


def block(rows: list[Row], command: str) -> str:
    today = datetime.date.today().isoformat()
    return f"{BEGIN}\nRun on {today}, {machine()}: `{command}`\n\n{markdown_table(rows)}\n{END}"


def write_doc(rows: list[Row], command: str) -> Path:
    text = DOC.read_text() if DOC.exists() else INTRO + f"{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(head + block(rows, command) + tail)
    return DOC


def write_raw(output: str) -> Path:
    path = ROOT / "bench" / "results" / f"reliability_{datetime.date.today().isoformat()}.txt"
    path.write_text(output)
    return path


class Tee:
    """stdout, also kept for the raw output file."""

    def __init__(self, stream):
        self.stream = stream
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def text(self) -> str:
        return "".join(self.parts)
