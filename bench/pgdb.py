"""A throwaway PostgreSQL database for a benchmark: dropped (its sessions ended) and created again."""

from __future__ import annotations


def recreate_database(server_url: str, name: str) -> None:
    """`server_url` names the server without a database (postgres://user@host:port)."""
    import psycopg2

    conn = psycopg2.connect(f"{server_url}/postgres")
    conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
