# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One SQL statement, checked in plain Python before anything is sent to PostgreSQL.

A query string handed to libpq's simple-query protocol may hold several statements, and a ``COMMIT;`` among
them ends the READ ONLY transaction the caller opened. ``single_statement`` refuses any ``;`` that is not inside
a string literal ('...', E'...', U&'...', $tag$...$tag$), a quoted identifier ("...") or a comment (-- and
nested /* */), as PostgreSQL's lexer reads them. One trailing ``;`` followed only by blanks and comments is
accepted and removed.

Literals are read with ``standard_conforming_strings = on`` (a backslash escapes only in E'...'): the session
that runs the statement must have that setting, or its lexer and this one could disagree on where a literal ends.
"""
from __future__ import annotations

import re


class SqlGuardError(ValueError):
    """The text is not exactly one statement (or is not well formed enough to tell)."""


_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")


def _ident_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$" or ord(ch) >= 0x80


def statement_semicolons(sql: str) -> list[int]:
    """Offsets of the ``;`` that separate statements (outside literals, quoted identifiers and comments).

    Raises SqlGuardError for an unterminated literal, identifier or comment."""
    out: list[int] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        nxt = sql[i + 1] if i + 1 < n else ""
        if ch == "-" and nxt == "-":  # line comment
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch == "/" and nxt == "*":  # block comment, nested as PostgreSQL nests them
            i = _block_comment_end(sql, i)
            if i < 0:
                raise SqlGuardError("unterminated /* comment")
        elif ch == "'":
            # E'...' (and e'...') take backslash escapes; every other form only doubles the quote
            prev = sql[i - 1] if i else ""
            before = sql[i - 2] if i > 1 else ""
            escapes = prev in "eE" and not (before and _ident_char(before))
            i = _skip_quoted(sql, i, "'", escapes)
        elif ch == '"':
            i = _skip_quoted(sql, i, '"', False)
        elif ch == "$" and not (i and _ident_char(sql[i - 1])):
            m = _DOLLAR_TAG.match(sql, i)
            if m:  # $tag$ ... $tag$ ($1 is a parameter, not a tag: the pattern needs a non-digit first)
                end = sql.find(m.group(0), m.end())
                if end < 0:
                    raise SqlGuardError(f"unterminated dollar-quoted string {m.group(0)}")
                i = end + len(m.group(0))
            else:
                i += 1
        elif ch == ";":
            out.append(i)
            i += 1
        else:
            i += 1
    return out


def _skip_quoted(sql: str, start: int, quote: str, backslash: bool) -> int:
    i, n = start + 1, len(sql)
    while i < n:
        ch = sql[i]
        if backslash and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and sql[i + 1] == quote:  # doubled quote: part of the literal
                i += 2
                continue
            return i + 1
        i += 1
    what = "quoted identifier" if quote == '"' else "string literal"
    raise SqlGuardError(f"unterminated {what}")


def _block_comment_end(sql: str, start: int) -> int:
    """Index just past the /* ... */ comment opening at ``start`` (nested as PostgreSQL nests them), or -1."""
    depth, i, n = 1, start + 2, len(sql)
    while depth:
        if i >= n:
            return -1
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def _blank(sql: str) -> bool:
    """True when ``sql`` holds only blanks and comments."""
    i, n = 0, len(sql)
    while i < n:
        if sql[i].isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            i = _block_comment_end(sql, i)
            if i < 0:
                return True  # an unterminated comment runs to the end: nothing but comment follows
        else:
            return False
    return True


def single_statement(sql: str) -> str:
    """``sql`` when it is one statement (a trailing ``;`` removed); SqlGuardError otherwise."""
    if not isinstance(sql, str):
        raise SqlGuardError("the query must be a string")
    semis = statement_semicolons(sql)
    if _blank(sql):
        raise SqlGuardError("the query is empty")
    if not semis:
        return sql
    last = semis[-1]
    if len(semis) == 1 and _blank(sql[last + 1:]) and not _blank(sql[:last]):
        return sql[:last]
    raise SqlGuardError(f"';' outside a string literal, quoted identifier or comment (offset {semis[0]}): "
                        "give exactly one statement")
