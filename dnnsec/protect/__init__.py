"""Active protection by AdvParams parameter encryption (Xue et al., IEEE TETC): the search and the key."""

from dnnsec.protect.advparams import Perturbation, SearchResult, search_perturbations
from dnnsec.protect.key import KeyEntry, KeyFileError, ProtectionKey, read_key, restore_state, write_key

__all__ = ["KeyEntry", "KeyFileError", "Perturbation", "ProtectionKey", "SearchResult", "read_key",
           "restore_state", "search_perturbations", "write_key"]
