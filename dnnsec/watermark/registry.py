"""A SQLite registry of users, their fingerprint key material and the model copies issued to them.

Safe under concurrent writers (several ``dnnsec issue`` processes at once): the database runs in WAL mode
(readers never block the writer), every write is one ``BEGIN IMMEDIATE`` transaction (the write lock is taken before
anything is read, so read-then-write sequences such as allocating a user's base-image slot cannot interleave),
unique constraints forbid duplicate users, slots, key images and model hashes, and a busy database is retried with
exponential back-off. See the SQLite documentation on WAL (https://sqlite.org/wal.html) and transactions
(https://sqlite.org/lang_transaction.html).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dnnsec.errors import DnnsecError
from shared.paths import cache_root

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    slot INTEGER NOT NULL UNIQUE,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS key_sets (
    user_id INTEGER NOT NULL REFERENCES users(id),
    domain TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    n_keys INTEGER NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (user_id, domain)
);
CREATE TABLE IF NOT EXISTS key_images (
    user_id INTEGER NOT NULL,
    domain TEXT NOT NULL,
    idx INTEGER NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    PRIMARY KEY (user_id, domain, idx),
    FOREIGN KEY (user_id, domain) REFERENCES key_sets(user_id, domain)
);
CREATE TABLE IF NOT EXISTS copies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id),
    domain TEXT NOT NULL,
    source_sha256 TEXT NOT NULL,
    model_sha256 TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    params TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS calibrations (domain TEXT PRIMARY KEY, value TEXT NOT NULL, created TEXT NOT NULL);
"""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def default_registry_path() -> Path:
    """``DNNSEC_REGISTRY`` if set, else ``cache_root()/watermark/registry.sqlite``."""
    env = os.environ.get("DNNSEC_REGISTRY")
    return Path(env).expanduser() if env else cache_root() / "watermark" / "registry.sqlite"


class RegistryError(DnnsecError):
    """A registry operation is refused: unknown or duplicate user, duplicate copy, unreadable database."""


@dataclass(frozen=True)
class User:
    """A registered user; ``slot`` selects their own OOD base images."""

    id: int
    name: str
    slot: int
    created: str


@dataclass(frozen=True)
class KeyImageRecord:
    """One key image of a user's key set: index, file and SHA-256 of its bytes."""

    idx: int
    path: str
    sha256: str


@dataclass(frozen=True)
class CopyRecord:
    """An issued copy: to whom, from which model, with which weights hash."""

    id: int
    user: str
    domain: str
    source_sha256: str
    model_sha256: str
    path: str
    params: dict
    created: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Registry:
    """The owner's registry at ``path`` (an SQLite file, created on first use).

    Parameters
    ----------
    path
        Database file.
    busy_retries
        Attempts to start a write transaction while another process holds the lock (back-off 10 ms doubling to 1 s).
    """

    def __init__(self, path: str | Path, busy_retries: int = 60) -> None:
        self.path = Path(path)
        self.busy_retries = busy_retries
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._write() as con:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)

    @property
    def folder(self) -> Path:
        """Folder beside the database holding the key images."""
        return self.path.with_suffix("")

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        try:
            con.execute("PRAGMA busy_timeout = 5000")
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            con.close()
            raise
        return con

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction, retried while the database is busy; rolled back on error."""
        delay = 0.01
        for attempt in range(self.busy_retries):
            try:
                con = self._connect()
            except sqlite3.DatabaseError as exc:
                error = exc
            else:
                try:
                    con.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.DatabaseError as exc:
                    con.close()
                    error = exc
            if "locked" not in str(error) and "busy" not in str(error):
                raise RegistryError(f"{self.path}: not a usable registry database ({error})") from error
            if attempt == self.busy_retries - 1:
                raise RegistryError(f"{self.path}: database stayed locked by other writers ({error})") from error
            time.sleep(delay)
            delay = min(2 * delay, 1.0)
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            con = self._connect()
        except sqlite3.DatabaseError as exc:
            raise RegistryError(f"{self.path}: not a usable registry database ({exc})") from exc
        try:
            yield con
        finally:
            con.close()

    # -- meta ------------------------------------------------------------------------------------------------
    def set_meta(self, key: str, value: str) -> None:
        """Store a metadata value (e.g. the owner's public key PEM)."""
        with self._write() as con:
            con.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                        "excluded.value", (key, value))

    def meta(self, key: str) -> str | None:
        with self._read() as con:
            row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # -- users -----------------------------------------------------------------------------------------------
    def add_user(self, name: str) -> User:
        """Register ``name`` with the next free base-image slot.

        Raises
        ------
        RegistryError
            If the name is invalid (1-64 of ``A-Za-z0-9_.-``) or already registered.
        """
        if not _NAME.match(name):
            raise RegistryError(f"user name {name!r} must be 1-64 characters of A-Z a-z 0-9 _ . - "
                                "starting with a letter or digit")
        with self._write() as con:
            slot = con.execute("SELECT COALESCE(MAX(slot), -1) + 1 FROM users").fetchone()[0]
            try:
                cur = con.execute("INSERT INTO users (name, slot, created) VALUES (?, ?, ?)", (name, slot, _now()))
            except sqlite3.IntegrityError as exc:
                raise RegistryError(f"{self.path}: user {name!r} is already registered") from exc
            return User(int(cur.lastrowid), name, int(slot), _now())

    def users(self) -> list[User]:
        """All users in registration order."""
        with self._read() as con:
            rows = con.execute("SELECT id, name, slot, created FROM users ORDER BY id").fetchall()
        return [User(int(i), str(n), int(s), str(c)) for i, n, s, c in rows]

    def user(self, name: str) -> User:
        """The user called ``name``; RegistryError listing the registered names if there is none."""
        for u in self.users():
            if u.name == name:
                return u
        names = ", ".join(u.name for u in self.users()) or "none"
        raise RegistryError(f"{self.path}: no user named {name!r} (registered: {names}); add one with "
                            f"`dnnsec users add {name}`")

    # -- key material ----------------------------------------------------------------------------------------
    def add_key_set(self, user_id: int, domain: str, fingerprint: str, images: list[KeyImageRecord]) -> None:
        """Record a user's key set in ``domain``: its fingerprint (hash over the image hashes) and every image."""
        with self._write() as con:
            try:
                con.execute("INSERT INTO key_sets (user_id, domain, fingerprint, n_keys, created) VALUES "
                            "(?, ?, ?, ?, ?)", (user_id, domain, fingerprint, len(images), _now()))
                con.executemany("INSERT INTO key_images (user_id, domain, idx, sha256, path) VALUES (?, ?, ?, ?, ?)",
                                [(user_id, domain, r.idx, r.sha256, r.path) for r in images])
            except sqlite3.IntegrityError as exc:
                raise RegistryError(f"{self.path}: user {user_id} already has a {domain} key set, or its key "
                                    f"material duplicates another's ({exc})") from exc

    def key_images(self, user_id: int, domain: str) -> list[KeyImageRecord]:
        """The user's key images in ``domain`` in index order (empty if none were made)."""
        with self._read() as con:
            rows = con.execute("SELECT idx, path, sha256 FROM key_images WHERE user_id = ? AND domain = ? "
                               "ORDER BY idx", (user_id, domain)).fetchall()
        return [KeyImageRecord(int(i), str(p), str(s)) for i, p, s in rows]

    def key_fingerprint(self, user_id: int, domain: str) -> str | None:
        with self._read() as con:
            row = con.execute("SELECT fingerprint FROM key_sets WHERE user_id = ? AND domain = ?",
                              (user_id, domain)).fetchone()
        return None if row is None else str(row[0])

    # -- copies ----------------------------------------------------------------------------------------------
    def record_copy(self, user_id: int, domain: str, source_sha256: str, model_sha256: str, path: str,
                    params: dict) -> int:
        """Record an issued copy; return its id. RegistryError if these weights were already issued."""
        with self._write() as con:
            try:
                cur = con.execute("INSERT INTO copies (user_id, domain, source_sha256, model_sha256, path, params, "
                                  "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                  (user_id, domain, source_sha256, model_sha256, path,
                                   json.dumps(params, sort_keys=True), _now()))
            except sqlite3.IntegrityError as exc:
                raise RegistryError(f"{self.path}: a copy with weights {model_sha256[:12]}... is already issued "
                                    f"({exc})") from exc
            return int(cur.lastrowid)

    def copies(self) -> list[CopyRecord]:
        """Every issued copy in issue order."""
        with self._read() as con:
            rows = con.execute("SELECT c.id, u.name, c.domain, c.source_sha256, c.model_sha256, c.path, c.params, "
                               "c.created FROM copies c JOIN users u ON u.id = c.user_id ORDER BY c.id").fetchall()
        return [CopyRecord(int(r[0]), r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7]) for r in rows]

    def find_copy(self, model_sha256: str) -> CopyRecord | None:
        """The issued copy with exactly these weights, if any."""
        return next((c for c in self.copies() if c.model_sha256 == model_sha256), None)

    # -- calibration -----------------------------------------------------------------------------------------
    def set_calibration(self, domain: str, value: dict) -> None:
        """Store the decision threshold calibrated on null models of ``domain``."""
        with self._write() as con:
            con.execute("INSERT INTO calibrations (domain, value, created) VALUES (?, ?, ?) ON CONFLICT(domain) "
                        "DO UPDATE SET value = excluded.value, created = excluded.created",
                        (domain, json.dumps(value, sort_keys=True), _now()))

    def calibration(self, domain: str) -> dict | None:
        with self._read() as con:
            row = con.execute("SELECT value FROM calibrations WHERE domain = ?", (domain,)).fetchone()
        return None if row is None else json.loads(row[0])
