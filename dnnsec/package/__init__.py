"""The signed protected-model package (Ed25519 over safetensors + JSON), owner keys, encrypt/decrypt workflow.

:func:`load_protected` is the in-memory loader: it verifies a package against the pinned owner key, decrypts it with
its key file and returns the model only if its tensors hash to the original model's hash the owner signed.
"""

from dnnsec.package.container import Package, PackageError, read_package, write_package
from dnnsec.package.outputs import OutputError
from dnnsec.package.protected import load_protected
from dnnsec.package.signing import OwnerKeyError, generate_owner_keys, load_private_key, load_public_key

__all__ = ["OutputError", "OwnerKeyError", "Package", "PackageError", "generate_owner_keys", "load_private_key",
           "load_protected", "load_public_key", "read_package", "write_package"]
