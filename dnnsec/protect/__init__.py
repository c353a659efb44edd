"""Active protection by AdvParams parameter encryption (Xue et al., IEEE TETC): the search, the key, sealing."""

from dnnsec.protect.advparams import (
    Decisions,
    Perturbation,
    SearchResult,
    binary_segmenter_decisions,
    classifier_decisions,
    search_perturbations,
)
from dnnsec.protect.key import KeyEntry, KeyFileError, ProtectionKey, read_key, restore_state, write_key
from dnnsec.protect.sealing import SealError

__all__ = ["Decisions", "KeyEntry", "KeyFileError", "Perturbation", "ProtectionKey", "SealError", "SearchResult",
           "binary_segmenter_decisions", "classifier_decisions", "read_key", "restore_state", "search_perturbations",
           "write_key"]
