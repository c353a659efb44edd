"""The owner's registry of users, their key material, and the copies issued to them (SQLite)."""

from dnnsec.registry.store import CopyRecord, KeyImageRecord, Registry, RegistryError, User

__all__ = ["CopyRecord", "KeyImageRecord", "Registry", "RegistryError", "User"]
