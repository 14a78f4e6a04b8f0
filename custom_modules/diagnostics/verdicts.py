"""The verdict every diagnostic check returns, and how verdicts are printed.

Holds :class:`Verdict` ``(name, status, reason, fix)``, the ``PASS``/``WARN``/``FAIL``
statuses, :func:`format_verdict` (one line), :func:`format_table` (the table that
``recipes/diagnose.py`` prints), :func:`exit_code` and the percentage helper the checks'
messages use.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import textwrap
from typing import NamedTuple, Sequence

__all__ = ["PASS", "WARN", "FAIL", "Verdict", "percent", "format_verdict", "format_table", "exit_code"]

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"


class Verdict(NamedTuple):
    """The outcome of one check.

    Attributes
    ----------
    name : str
        Short name of the check (``"batch size"``).
    status : str
        ``"PASS"``, ``"WARN"`` or ``"FAIL"``.
    reason : str
        One line with the numbers involved.
    fix : str
        What to change ("" when nothing needs changing).
    """

    name: str
    status: str
    reason: str
    fix: str = ""


def percent(count: float, total: float) -> str:
    """``count / total`` as a percentage with one decimal, ``"n/a"`` when ``total`` is 0.

    Example
    -------
    >>> percent(1, 3), percent(0, 0)
    ('33.3%', 'n/a')
    """
    return f"{100.0 * count / total:.1f}%" if total else "n/a"


def format_verdict(verdict: Verdict) -> str:
    """One line: ``STATUS name: reason [fix: ...]`` (for logs and error messages).

    Example
    -------
    >>> format_verdict(Verdict("crop", "WARN", "too long", "shorter"))
    'WARN crop: too long (fix: shorter)'
    """
    fix = f" (fix: {verdict.fix})" if verdict.fix else ""
    return f"{verdict.status} {verdict.name}: {verdict.reason}{fix}"


def format_table(verdicts: Sequence[Verdict], width: int = 110) -> str:
    """A table with one row per verdict: status, check, reason, and the fix below it.

    Example
    -------
    >>> print(format_table([Verdict("batch size", "WARN", "batch_size=1", "use 32")]))
    STATUS  CHECK            REASON
    WARN    batch size       batch_size=1
                             fix: use 32
    """
    column = max([17] + [len(v.name) + 2 for v in verdicts])  # 17 unless a name is longer
    indent = " " * (8 + column)
    lines = [f"{'STATUS':<8}{'CHECK':<{column}}REASON"]
    for verdict in verdicts:
        body = textwrap.wrap(verdict.reason, width=max(40, width - len(indent))) or [""]
        lines.append(f"{verdict.status:<8}{verdict.name:<{column}}{body[0]}")
        lines += [indent + line for line in body[1:]]
        if verdict.fix:
            fix = textwrap.wrap("fix: " + verdict.fix, width=max(40, width - len(indent)))
            lines += [indent + line for line in fix]
    return "\n".join(lines)


def exit_code(verdicts: Sequence[Verdict]) -> int:
    """1 if any verdict is a FAIL, else 0.

    Example
    -------
    >>> exit_code([Verdict("a", "PASS", ""), Verdict("b", "WARN", "")]), exit_code([Verdict("c", "FAIL", "")])
    (0, 1)
    """
    return int(any(v.status == FAIL for v in verdicts))
