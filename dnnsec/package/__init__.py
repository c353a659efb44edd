"""The signed protected-model package (Ed25519 over safetensors + JSON), owner keys, encrypt/decrypt workflow."""

from dnnsec.package.container import Package, PackageError, read_package, write_package
from dnnsec.package.signing import OwnerKeyError, generate_owner_keys, load_private_key, load_public_key

__all__ = ["OwnerKeyError", "Package", "PackageError", "generate_owner_keys", "load_private_key",
           "load_public_key", "read_package", "write_package"]
