"""The test PostgreSQL server starts here and hands out databases of their own."""

from __future__ import annotations

import psycopg
from pgserver import PostgresServer


def test_each_test_database_is_fresh_and_separate(postgres_server: PostgresServer, postgres_url: str) -> None:
    other = postgres_server.create_database()
    try:
        with psycopg.connect(postgres_url) as one, psycopg.connect(other) as two:
            one.execute("CREATE TABLE marker (x integer)")
            one.commit()
            found = two.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'marker'").fetchone()
            assert found == (0,)
            version = one.execute("SHOW server_version_num").fetchone()
            assert version is not None and int(version[0]) >= 150000
    finally:
        postgres_server.drop_database(other)
