"""The dump reader: MySQL and PostgreSQL quoting, INSERT/COPY/CREATE parsing at every chunk
boundary, and hostile dumps (unterminated strings, a 50 MB line, binary junk, corrupt gzip) that
must end in a partial result with a clear problem, never a hang."""

from __future__ import annotations

import gzip
import io
import random
import time
from pathlib import Path

import pytest
from test_db_shops import SKIMMER

from skimguard.webroot.database import DbScanOptions, scan_source
from skimguard.webroot.dump import (
    MAX_COPY_LINE,
    MAX_VALUE_BYTES,
    DumpDialect,
    DumpEvent,
    DumpProblem,
    DumpRow,
    TableSchema,
    detect_dialect,
    read_dump,
)

FIXTURES = Path(__file__).parent / "db_fixtures"


def events(data: bytes, *, dialect: DumpDialect | None = None, chunk: int = 1 << 20, **kw: object) -> list[DumpEvent]:
    wanted = kw.pop("wanted", lambda _t: True)
    return list(read_dump(io.BytesIO(data), wanted=wanted, dialect=dialect, chunk=chunk, **kw))  # type: ignore[arg-type]


def rows(data: bytes, **kw: object) -> list[tuple[str, tuple[str | None, ...]]]:
    return [(e.table, e.values) for e in events(data, **kw) if isinstance(e, DumpRow)]


def problems(data: bytes, **kw: object) -> list[tuple[str, str | None]]:
    return [(e.code, e.table) for e in events(data, **kw) if isinstance(e, DumpProblem)]


MYSQL = rb"""-- MySQL dump 10.13
/*!40101 SET NAMES utf8mb4 */;
# a hash comment, don't open a string
/* a block comment, it's fine */
CREATE TABLE `t` (
  `id` int(11) NOT NULL,
  `a` text,
  `b` varchar(255) DEFAULT 'x;y',
  PRIMARY KEY (`id`),
  KEY `idx_b` (`b`(191)),
  CONSTRAINT `fk` FOREIGN KEY (`a`) REFERENCES `u` (`id`)
) ENGINE=InnoDB;
INSERT INTO `t` VALUES (1,'it\'s','two''quotes'),(2,'back\\slash','new\nline\ttab\0nul'),(3,"dq\"x",'%\_'),
(4,_binary 'bin',0x3C623E),(5,NULL,-1.5),(6,'),(\'7\',\'x\');','semi;colon');
INSERT IGNORE INTO t (id, b) VALUES (8,'named') ON DUPLICATE KEY UPDATE b=VALUES(b);
REPLACE INTO `other` VALUES (9,'skipped');
"""

MYSQL_ROWS = [
    ("t", ("1", "it's", "two'quotes")),
    ("t", ("2", "back\\slash", "new\nline\ttab\x00nul")),
    ("t", ("3", 'dq"x', "%\\_")),
    ("t", ("4", "bin", "<b>")),
    ("t", ("5", None, "-1.5")),
    ("t", ("6", "),('7','x');", "semi;colon")),
    ("t", ("8", "named")),
    ("other", ("9", "skipped")),
]

PG = rb"""--
-- PostgreSQL database dump
--
\restrict AbC123
SET standard_conforming_strings = on;
CREATE FUNCTION public.f() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN -- it's a body; with semicolons
  RETURN NEW;
END $fn$;
CREATE TABLE public.t (
    id integer NOT NULL,
    a text,
    "B" character varying(10)
);
COPY public.t (id, a, "B") FROM stdin;
1	tab\there\nnew	\N
2	back\\slash \x41\101	quote'
\.
INSERT INTO public.t VALUES (3, 'std \ backslash', 'it''s');
INSERT INTO public.t (id, a, "B") VALUES (4, E'esc\tape\\ \'q\' \x41\u00e9', NULL);
SET standard_conforming_strings = off;
INSERT INTO public.t VALUES (5, 'now \' escaped', 'x');
\unrestrict AbC123
"""

PG_ROWS = [
    ("t", ("1", "tab\there\nnew", None)),
    ("t", ("2", "back\\slash AA", "quote'")),
    ("t", ("3", "std \\ backslash", "it's")),
    ("t", ("4", "esc\tape\\ 'q' A\u00e9", None)),
    ("t", ("5", "now ' escaped", "x")),
]


def test_mysql_quoting_and_statements() -> None:
    assert detect_dialect(MYSQL) is DumpDialect.MYSQL
    evs = events(MYSQL)
    assert evs[0] == TableSchema("t", ("id", "a", "b"), ("id",), MYSQL.index(b"TABLE `t`"))
    assert rows(MYSQL) == MYSQL_ROWS
    assert [e.columns for e in evs if isinstance(e, DumpRow)][5:7] == [("id", "a", "b"), ("id", "b")]
    assert problems(MYSQL) == []


def test_postgres_quoting_copy_and_settings() -> None:
    assert detect_dialect(PG) is DumpDialect.POSTGRES
    assert rows(PG) == PG_ROWS
    schema = next(e for e in events(PG) if isinstance(e, TableSchema))
    assert schema.columns == ("id", "a", "B")
    assert problems(PG) == []


@pytest.mark.parametrize("name", ["mysql", "pg", "mysqldump-fixture", "pg_dump-fixture"])
def test_every_chunk_boundary_gives_the_same_events(name: str) -> None:
    data = {
        "mysql": MYSQL,
        "pg": PG,
        "mysqldump-fixture": (FIXTURES / "magento2-footer-skimmer.mysqldump.sql").read_bytes(),
        "pg_dump-fixture": (FIXTURES / "woocommerce-widget-skimmer.pg_dump.sql").read_bytes(),
    }[name]
    dialect = detect_dialect(data)
    whole = events(data, dialect=dialect)
    assert any(isinstance(e, DumpRow) for e in whole)
    for chunk in (*range(1, 20), 61, 64, 127, 1000):
        assert events(data, dialect=dialect, chunk=chunk) == whole, chunk


def test_unwanted_tables_are_skipped_but_named_to_the_filter() -> None:
    asked: list[str] = []

    def wanted(table: str) -> bool:
        asked.append(table)
        return table == "other"

    assert rows(MYSQL, wanted=wanted) == [("other", ("9", "skipped"))]
    assert asked == ["t", "t", "t", "other"]  # CREATE, two INSERTs, REPLACE
    assert rows(PG, wanted=lambda t: False) == []


# ---------------------------------------------------------------------------------------------
# hostile dumps
# ---------------------------------------------------------------------------------------------


def test_unterminated_string_keeps_the_rows_before_it() -> None:
    data = b"INSERT INTO t VALUES (1,'ok'),(2,'fine');\nINSERT INTO t VALUES (3,'never closed \\' ... "
    evs = events(data)
    assert [(e.table, e.values) for e in evs if isinstance(e, DumpRow)] == [("t", ("1", "ok")), ("t", ("2", "fine"))]
    (problem,) = [e for e in evs if isinstance(e, DumpProblem)]
    assert problem.code == "unterminated-string" and problem.offset == data.index(b"'never")
    assert "ends inside a string" in problem.message


def test_malformed_rows_are_problems_not_crashes() -> None:
    assert problems(b"INSERT INTO t VALUES (1,'a';") == [("malformed-row", "t")]
    assert problems(b"INSERT INTO t VALUES " + b"(" * 1000 + b";") == [("malformed-row", "t")]
    assert problems(b"INSERT INTO t VALUES 1,2;") == [("malformed-row", "t")]
    many = b"INSERT INTO t VALUES (1, " + b"x " * 300 + b");\nINSERT INTO t VALUES (2,'next');"
    assert rows(many) == [("t", ("2", "next"))]


def test_a_50_mb_single_line_is_read_in_bounded_time_and_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.sql"
    with path.open("wb") as f:
        f.write(b"CREATE TABLE `wp_options` (`option_id` bigint, `option_name` varchar(191), `option_value` longtext,"
                b" PRIMARY KEY (`option_id`));\n")  # fmt: skip
        f.write(b"INSERT INTO `wp_options` VALUES (1,'widget_custom_html','")
        f.write(SKIMMER.replace("'", "\\'").encode())
        for _ in range(50):
            f.write(b"A" * (1024 * 1024))
        f.write(b"'),(2,'blogname','Fumi');\n")
    started = time.monotonic()
    with path.open("rb") as stream:
        evs = list(read_dump(stream, wanted=lambda t: True))
    assert time.monotonic() - started < 15
    found = [e for e in evs if isinstance(e, DumpRow)]
    assert [(r.values[0], r.truncated) for r in found] == [("1", True), ("2", False)]
    assert len(found[0].values[2] or "") == MAX_VALUE_BYTES
    assert [(e.code, e.table) for e in evs if isinstance(e, DumpProblem)] == [("truncated-value", "wp_options")]
    # the scan analyses the head of the value and says the rest was not
    result = scan_source(str(path), DbScanOptions())
    assert [(f.rule_id, f.subject) for f in result.findings] == [
        ("SG720", "wp_options:option_id=1:option_value"),
        ("SG723", "wp_options:truncated-value"),
    ]


def test_50_mb_of_junk_without_a_newline(tmp_path: Path) -> None:
    path = tmp_path / "junk.sql"
    path.write_bytes(b"INSERT INTO wp_options VALUES (1,'a');" + b"x-/" * (17 * 1024 * 1024))
    started = time.monotonic()
    result = scan_source(str(path), DbScanOptions(platform="woocommerce"))
    assert time.monotonic() - started < 15
    assert result.tables[0].rows_read == 1 and result.findings == ()


def test_binary_junk_ends_with_a_problem_or_nothing(tmp_path: Path) -> None:
    rng = random.Random(7)
    for size in (1, 100, 4096, 3 * 1024 * 1024):
        data = rng.randbytes(size)
        started = time.monotonic()
        evs = events(b"INSERT INTO core_config_data VALUES (1,'default',0,'design/x','y');\n" + data)
        assert time.monotonic() - started < 10
        assert isinstance(evs[0], DumpRow)
        assert all(isinstance(e, DumpRow | DumpProblem | TableSchema) for e in evs)


def test_time_limit_and_corrupt_gzip_are_problems(tmp_path: Path) -> None:
    assert problems(MYSQL, deadline=time.monotonic() - 1) == [("time-limit", None)]
    packed = gzip.compress((FIXTURES / "magento2-footer-skimmer.mysqldump.sql").read_bytes() * 300)
    path = tmp_path / "cut.sql.gz"
    path.write_bytes(packed[: len(packed) // 2])
    result = scan_source(str(path), DbScanOptions())
    assert [(f.rule_id, f.subject) for f in result.findings] == [
        ("SG720", "core_config_data:config_id=4:value"),
        ("SG723", "-:read-error"),
    ]
    assert result.status == "partial" and "cannot be read further" in result.problems[0]


def test_copy_blocks_unterminated_and_over_long() -> None:
    unterminated = b"COPY public.t (id, a) FROM stdin;\n1\tx\n"
    assert rows(unterminated, dialect=DumpDialect.POSTGRES) == [("t", ("1", "x"))]
    assert problems(unterminated, dialect=DumpDialect.POSTGRES) == [("unterminated-copy", "t")]
    long = b"COPY public.t (id, a) FROM stdin;\n1\t" + b"b" * (MAX_COPY_LINE + 10) + b"\n2\tc\n\\.\n"
    evs = events(long, dialect=DumpDialect.POSTGRES)
    got = [(e.values[0], e.truncated) for e in evs if isinstance(e, DumpRow)]
    assert got == [("1", True), ("2", False)]
    assert [e.code for e in evs if isinstance(e, DumpProblem)] == ["long-line"]
