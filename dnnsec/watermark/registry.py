"""A SQLite registry of users, their fingerprint key material and the model copies issued to them.

Safe under concurrent writers (several ``dnnsec issue`` processes at once): the database runs in WAL mode
(readers never block the writer), every write is one ``BEGIN IMMEDIATE`` transaction (the write lock is taken before
anything is read, so read-then-write sequences such as allocating a user's base-image slot cannot interleave),
unique constraints forbid duplicate users, slots, key images and model hashes, and a busy database is retried with
exponential back-off.

Files and rows move together (``docs/acceptance.md#dnnsec-registry-transactions``):

* Key images are written to a staging folder first (``keys/.staging-<token>/``). One ``BEGIN IMMEDIATE``
  transaction then checks-and-sets the owner-key pin, checks that no key set of the user and domain exists yet and
  that the domain's key count is the one staged (a domain's count is fixed by its first key set), inserts the rows
  and renames the staged folder of each user to a folder of its own (``keys/user<id>-<domain>-<token>/``, a name no
  other writer uses) before it commits. If anything fails the transaction rolls back and the renamed folders are
  deleted, so a concurrent writer with other settings or another signer can never overwrite registered key files.
* An issued copy is saved under a staging name beside ``--out``; the transaction that records it checks the pin
  and moves the files onto their names (without ``force`` a hard link that fails if the name exists, so nothing is
  overwritten silently) before it commits.
* Every field read back is bounded: user names, SHA-256 strings, key counts and indices, and key-image paths (they
  must lie under the registry's own ``keys`` folder); a database of another schema is refused by name.

See the SQLite documentation on WAL (https://sqlite.org/wal.html) and transactions
(https://sqlite.org/lang_transaction.html).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
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
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
#: The schema this module writes and reads (stored in ``meta`` under ``schema``).
SCHEMA_ID = "dnnsec-watermark-registry/1"
#: Bounds on untrusted fields: key images per user and domain, length of a pinned PEM public key.
MAX_KEYS, MAX_PEM = 1000, 1024
_COLUMNS = {
    "meta": ["key", "value"],
    "users": ["id", "name", "slot", "created"],
    "key_sets": ["user_id", "domain", "fingerprint", "n_keys", "created"],
    "key_images": ["user_id", "domain", "idx", "sha256", "path"],
    "copies": ["id", "user_id", "domain", "source_sha256", "model_sha256", "path", "params", "created"],
    "calibrations": ["domain", "value", "created"],
}


def check_user_name(name: str) -> str:
    """Return ``name`` if it is a valid user name (it becomes part of file names), else raise RegistryError."""
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith("."):
        shown = repr(name) if len(str(name)) <= 80 else f"{str(name)[:40]!r}... ({len(name)} characters)"
        raise RegistryError(f"user name {shown} must be 1-64 characters of A-Z a-z 0-9 _ . - starting with a letter "
                            "or digit (no path separators)")
    return name


def key_set_fingerprint(records: list[KeyImageRecord]) -> str:
    """The user's fingerprint in a domain: SHA-256 over the SHA-256 of every key image, in index order."""
    return hashlib.sha256("".join(r.sha256 for r in records).encode()).hexdigest()


def pem_fingerprint(pem: str) -> str:
    """Short SHA-256 of a PEM public key, to name a key in messages."""
    return hashlib.sha256(pem.encode()).hexdigest()[:16]


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
class StagedKeySet:
    """A user's key images written to a staging folder, not yet registered: ``files`` is ``(path, sha256)`` per
    index."""

    user_id: int
    folder: Path
    files: list[tuple[Path, str]]


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

    def __init__(self, path: str | Path, busy_retries: int = 60, create: bool = True) -> None:
        self.path = Path(path)
        self.busy_retries = busy_retries
        if self.path.exists() and not self.path.is_file():
            raise RegistryError(f"{self.path}: not a registry database (not a regular file)")
        if not self.path.exists():
            if not create:
                raise RegistryError(f"{self.path}: no registry here; make one with `dnnsec users add NAME "
                                    f"--registry {self.path}`")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._read() as con:
            state = self._schema_state(con)
        if state == "empty" and not create:
            raise RegistryError(f"{self.path}: an empty database, not a registry; make one with `dnnsec users add "
                                f"NAME --registry {self.path}`")
        if state != "ok":
            with self._write() as con:
                if self._schema_state(con) == "empty":
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            con.execute(statement)
                con.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_ID,))

    def _schema_state(self, con: sqlite3.Connection) -> str:
        """``"empty"`` (no tables), ``"ok"`` (our schema, marked), ``"unmarked"`` (our tables, no marker: an older
        registry); a foreign or damaged schema raises RegistryError naming the file."""
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                            "'sqlite_%'")}
        if not tables:
            return "empty"
        for table, columns in _COLUMNS.items():
            found = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
            if found != columns:
                raise RegistryError(f"{self.path}: not a dnnsec watermark registry (foreign schema: table {table!r} "
                                    f"has columns {found or 'none'}, expected {columns})")
        row = con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            return "unmarked"
        if row[0] != SCHEMA_ID:
            raise RegistryError(f"{self.path}: registry schema {str(row[0])[:64]!r} is not {SCHEMA_ID!r}")
        return "ok"

    @property
    def folder(self) -> Path:
        """Folder beside the database holding the key images."""
        return self.path.with_suffix("")

    @property
    def keys_dir(self) -> Path:
        """Folder of the registered key images (one sub-folder per user, domain and writer)."""
        return self.folder / "keys"

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        try:
            con.execute("PRAGMA busy_timeout = 5000")
            con.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            con.close()
            raise
        return con

    def _unusable(self, exc: sqlite3.Error) -> RegistryError:
        return RegistryError(f"{self.path}: not a usable registry database ({exc})")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction, retried while the database is busy; rolled back on error."""
        delay = 0.01
        for attempt in range(self.busy_retries):
            try:
                con = self._connect()
            except sqlite3.Error as exc:
                error = exc
            else:
                try:
                    con.execute("PRAGMA journal_mode = WAL")
                    con.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.Error as exc:
                    con.close()
                    error = exc
            if "locked" not in str(error) and "busy" not in str(error):
                raise self._unusable(error) from error
            if attempt == self.busy_retries - 1:
                raise RegistryError(f"{self.path}: database stayed locked by other writers ({error})") from error
            time.sleep(delay)
            delay = min(2 * delay, 1.0)
        try:
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._unusable(exc) from exc
        finally:
            con.close()

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            con = self._connect()
        except sqlite3.Error as exc:
            raise self._unusable(exc) from exc
        try:
            yield con
        except sqlite3.Error as exc:
            raise self._unusable(exc) from exc
        finally:
            con.close()

    def _check_pin(self, con: sqlite3.Connection, owner_pem: str) -> None:
        """Inside a write transaction: pin ``owner_pem`` if no owner key is pinned yet, refuse any other key."""
        row = con.execute("SELECT value FROM meta WHERE key = 'owner_public_key'").fetchone()
        if row is None:
            con.execute("INSERT INTO meta (key, value) VALUES ('owner_public_key', ?)", (owner_pem,))
        elif row[0] != owner_pem:
            raise RegistryError(f"{self.path}: the signing key (public key {pem_fingerprint(owner_pem)}) is not the "
                                f"owner key pinned in this registry (public key {pem_fingerprint(str(row[0]))})")

    # -- meta ------------------------------------------------------------------------------------------------
    def pin_owner(self, owner_pem: str) -> None:
        """Pin the owner's public key (PEM) if none is pinned; RegistryError if another one is (one transaction)."""
        with self._write() as con:
            self._check_pin(con, owner_pem)

    def meta(self, key: str) -> str | None:
        with self._read() as con:
            row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def owner_pem(self) -> str | None:
        """The pinned owner public key (PEM), bounded in length, or None."""
        pem = self.meta("owner_public_key")
        if pem is not None and (len(pem) > MAX_PEM or not pem.startswith("-----BEGIN PUBLIC KEY-----")):
            raise RegistryError(f"{self.path}: the pinned owner key is malformed ({len(pem)} characters)")
        return pem

    # -- users -----------------------------------------------------------------------------------------------
    def add_user(self, name: str) -> User:
        """Register ``name`` with the next free base-image slot.

        Raises
        ------
        RegistryError
            If the name is invalid (1-64 of ``A-Za-z0-9_.-``) or already registered.
        """
        check_user_name(name)
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
        out = []
        for i, n, s, c in rows:
            if not isinstance(n, str) or not _NAME.match(n) or not isinstance(i, int) or not isinstance(s, int) \
                    or not 0 <= s < 2**20 or not 0 < i < 2**31:
                raise RegistryError(f"{self.path}: user row {str(i)[:20]!r} is malformed (name {str(n)[:40]!r}, "
                                    f"slot {str(s)[:20]!r})")
            out.append(User(i, n, s, str(c)))
        return out

    def user(self, name: str) -> User:
        """The user called ``name``; RegistryError listing the registered names if there is none."""
        check_user_name(name)
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
            self._insert_key_set(con, user_id, domain, fingerprint, images)

    def _insert_key_set(self, con: sqlite3.Connection, user_id: int, domain: str, fingerprint: str,
                        images: list[KeyImageRecord]) -> None:
        try:
            con.execute("INSERT INTO key_sets (user_id, domain, fingerprint, n_keys, created) VALUES "
                        "(?, ?, ?, ?, ?)", (user_id, domain, fingerprint, len(images), _now()))
            con.executemany("INSERT INTO key_images (user_id, domain, idx, sha256, path) VALUES (?, ?, ?, ?, ?)",
                            [(user_id, domain, r.idx, r.sha256, r.path) for r in images])
        except sqlite3.IntegrityError as exc:
            raise RegistryError(f"{self.path}: user {user_id} already has a {domain} key set, or its key "
                                f"material duplicates another's ({exc})") from exc

    def domain_key_count(self, domain: str) -> int | None:
        """Key images per user in ``domain`` (fixed by the domain's first key set), or None if it has none."""
        with self._read() as con:
            return self._domain_key_count(con, domain)

    def _domain_key_count(self, con: sqlite3.Connection, domain: str) -> int | None:
        row = con.execute("SELECT n_keys FROM key_sets WHERE domain = ? ORDER BY created, user_id LIMIT 1",
                          (domain,)).fetchone()
        if row is None:
            return None
        if not isinstance(row[0], int) or not 1 <= row[0] <= MAX_KEYS:
            raise RegistryError(f"{self.path}: key count {str(row[0])[:20]!r} of domain {domain!r} is outside "
                                f"1..{MAX_KEYS}")
        return row[0]

    def commit_key_sets(self, domain: str, owner_pem: str, n_keys: int, staged: list[StagedKeySet],
                        token: str) -> None:
        """Register staged key sets in one transaction, moving their files into place before it commits.

        The transaction checks-and-sets the owner pin, refuses a key count other than the domain's, skips users
        who got a key set meanwhile (a concurrent issuer made the same keys) and renames each remaining staged
        folder to ``keys/user<id>-<domain>-<token>``; on any failure the moved folders are deleted again.

        Raises
        ------
        RegistryError
            Another owner key is pinned, or the domain's key count differs from ``n_keys``.
        """
        if not _DOMAIN.match(domain) or not re.fullmatch(r"[0-9a-f]{8,32}", token):
            raise RegistryError(f"{self.path}: bad domain {domain!r} or token {token!r}")
        moved: list[Path] = []
        try:
            with self._write() as con:
                self._check_pin(con, owner_pem)
                fixed = self._domain_key_count(con, domain)
                if fixed is not None and fixed != n_keys:
                    raise RegistryError(f"{self.path}: domain {domain!r} uses {fixed} key images per user (fixed by "
                                        f"its first key set), not {n_keys}; issue with --keys {fixed} or without "
                                        "--keys")
                for st in staged:
                    if con.execute("SELECT 1 FROM key_sets WHERE user_id = ? AND domain = ?",
                                   (st.user_id, domain)).fetchone():
                        continue
                    final = self.keys_dir / f"user{st.user_id:05d}-{domain}-{token}"
                    rel = final.relative_to(self.folder)  # stored relative: the registry may be moved
                    records = [KeyImageRecord(i, str(rel / p.name), sha) for i, (p, sha) in enumerate(st.files)]
                    self._insert_key_set(con, st.user_id, domain, key_set_fingerprint(records), records)
                    os.rename(st.folder, final)
                    moved.append(final)
        except BaseException:
            for folder in moved:
                shutil.rmtree(folder, ignore_errors=True)
            raise

    def key_images(self, user_id: int, domain: str) -> list[KeyImageRecord]:
        """The user's key images in ``domain`` in index order (empty if none were made).

        Every field is checked: indices 0..n-1 with n <= :data:`MAX_KEYS`, SHA-256 hex strings, and paths under
        :attr:`keys_dir`; paths are returned absolute (stored relative to :attr:`folder`).
        """
        with self._read() as con:
            rows = con.execute("SELECT idx, path, sha256 FROM key_images WHERE user_id = ? AND domain = ? "
                               "ORDER BY idx LIMIT ?", (user_id, domain, MAX_KEYS + 1)).fetchall()
        if len(rows) > MAX_KEYS:
            raise RegistryError(f"{self.path}: user {user_id} has more than {MAX_KEYS} {domain} key images")
        root = self.keys_dir.resolve()
        out = []
        for k, (i, p, sha) in enumerate(rows):
            if i != k or not isinstance(sha, str) or not _HEX64.match(sha) or not isinstance(p, str) \
                    or len(p) > 4096:
                raise RegistryError(f"{self.path}: key image row {k} of user {user_id} ({domain}) is malformed")
            full = self.folder / p
            if not full.resolve().is_relative_to(root):
                raise RegistryError(f"{self.path}: key image {p[:200]} of user {user_id} lies outside the "
                                    f"registry's key folder {self.keys_dir}")
            out.append(KeyImageRecord(i, str(full), sha))
        return out

    def key_set_domains(self, user_id: int) -> list[str]:
        """Domains in which the user has a key set, sorted (names checked)."""
        with self._read() as con:
            rows = con.execute("SELECT domain FROM key_sets WHERE user_id = ? ORDER BY domain LIMIT 1000",
                               (user_id,)).fetchall()
        bad = [r[0] for r in rows if not isinstance(r[0], str) or not _DOMAIN.match(r[0])]
        if bad:
            raise RegistryError(f"{self.path}: key set of user {user_id} has a malformed domain {str(bad[0])[:40]!r}")
        return [r[0] for r in rows]

    def key_fingerprint(self, user_id: int, domain: str) -> str | None:
        with self._read() as con:
            row = con.execute("SELECT fingerprint FROM key_sets WHERE user_id = ? AND domain = ?",
                              (user_id, domain)).fetchone()
        return None if row is None else str(row[0])

    # -- copies ----------------------------------------------------------------------------------------------
    def record_copy(self, user_id: int, domain: str, source_sha256: str, model_sha256: str, path: str,
                    params: dict, *, owner_pem: str | None = None, files: list[tuple[Path, Path]] = (),
                    force: bool = False) -> int:
        """Record an issued copy and move its staged files into place in the same transaction; return its id.

        ``files`` are ``(staged, final)`` pairs, moved just before the commit: without ``force`` by a hard link that
        fails if ``final`` exists (then nothing is moved and nothing recorded). With ``owner_pem`` the owner pin is
        checked (and set if none) in the same transaction. RegistryError if these weights were already issued.
        """
        placed: list[Path] = []
        try:
            with self._write() as con:
                if owner_pem is not None:
                    self._check_pin(con, owner_pem)
                try:
                    cur = con.execute("INSERT INTO copies (user_id, domain, source_sha256, model_sha256, path, "
                                      "params, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                      (user_id, domain, source_sha256, model_sha256, path,
                                       json.dumps(params, sort_keys=True), _now()))
                except sqlite3.IntegrityError as exc:
                    raise RegistryError(f"{self.path}: a copy with weights {model_sha256[:12]}... is already issued "
                                        f"({exc})") from exc
                for staged, final in files:
                    if force:
                        os.replace(staged, final)
                    else:
                        try:
                            os.link(staged, final)
                        except FileExistsError as exc:
                            raise RegistryError(f"{final}: exists; pass --force to overwrite it") from exc
                        Path(staged).unlink()
                    placed.append(Path(final))
                return int(cur.lastrowid)
        except BaseException:
            for final in placed:
                final.unlink(missing_ok=True)
            raise

    def copies(self) -> list[CopyRecord]:
        """Every issued copy in issue order."""
        with self._read() as con:
            rows = con.execute("SELECT c.id, u.name, c.domain, c.source_sha256, c.model_sha256, c.path, c.params, "
                               "c.created FROM copies c JOIN users u ON u.id = c.user_id ORDER BY c.id").fetchall()
        out = []
        for r in rows:
            try:
                params = json.loads(r[6]) if isinstance(r[6], str) and len(r[6]) <= 65536 else None
            except json.JSONDecodeError:
                params = None
            if not isinstance(params, dict) or not isinstance(r[4], str) or not _HEX64.match(r[4]):
                raise RegistryError(f"{self.path}: copy row {str(r[0])[:20]} is malformed")
            out.append(CopyRecord(int(r[0]), r[1], r[2], r[3], r[4], r[5], params, r[7]))
        return out

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
        if row is None:
            return None
        try:
            value = json.loads(row[0]) if isinstance(row[0], str) and len(row[0]) <= 4096 else None
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise RegistryError(f"{self.path}: the stored calibration of domain {domain!r} is malformed")
        return value
