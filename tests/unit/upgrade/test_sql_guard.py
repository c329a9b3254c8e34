"""sql_guard: one statement per business check, as PostgreSQL's lexer (standard_conforming_strings on) reads it."""
from __future__ import annotations

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.postgres.sql_guard import SqlGuardError, single_statement
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import baseline as ub


@pytest.mark.parametrize("sql,kept", [
    ("SELECT 1", "SELECT 1"),
    ("SELECT 1;", "SELECT 1"),
    ("SELECT 1 ;  -- done\n /* a /* nested */ comment */ ", "SELECT 1 "),
    ("SELECT ';' AS semi", None),
    ("SELECT 'it''s; fine'", None),
    ("SELECT E'a\\'; still inside'", None),
    ("SELECT U&'d\\0061t; a'", None),
    ("SELECT $$ ; $$", None),
    ("SELECT $fn$ $x$;$x$ ; $fn$", None),
    ('SELECT "odd;name" FROM "t""x;"', None),
    ("SELECT 1 -- ; a comment\n", None),
    ("SELECT /* ; /* ; */ ; */ 1", None),
    ("SELECT a$b$c FROM t", None),
    ("SELECT $1", None),
])
def test_one_statement_accepted(sql, kept):
    assert single_statement(sql) == (sql if kept is None else kept)


@pytest.mark.parametrize("sql,msg", [
    ("SELECT 1; COMMIT; CREATE TABLE x()", "';' outside a string literal.*offset 8"),
    ("SELECT 1;;", "offset 8"),
    (";", "offset 0"),
    ("SELECT 'a'; DROP TABLE t", "offset 10"),
    ("SELECT E'\\''; COMMIT", "offset 12"),       # the escaped quote does not end the literal; the next does
    ("SELECT $$x$$; COMMIT", "offset 12"),
    ('SELECT "a;"; COMMIT', "offset 11"),
    ("SELECT 1 /* c */; COMMIT", "offset 16"),
    ("SELECT 'open", "unterminated string literal"),
    ('SELECT "open', "unterminated quoted identifier"),
    ("SELECT $q$ open", r"unterminated dollar-quoted string \$q\$"),
    ("SELECT 1 /* /* */", "unterminated /\\* comment"),
    ("", "empty"),
    ("  -- only a comment", "empty"),
])
def test_more_or_less_than_one_statement_refused(sql, msg):
    with pytest.raises(SqlGuardError, match=msg):
        single_statement(sql)


def test_checks_refused_before_any_runs_naming_the_check():
    checks = [{"name": "fine", "sql": "SELECT 1", "min": 0},
              {"name": "escape", "sql": "SELECT 1; COMMIT; CREATE TABLE x()", "min": 0}]
    with pytest.raises(ub.BaselineError, match="business check 'escape' refused: ';' outside"):
        ub.validate_checks(checks)
    # run_business_checks validates all of them before touching its connection (None here: never used)
    with pytest.raises(ub.BaselineError, match="'escape' refused"):
        ub.run_business_checks(None, checks)
