"""Transfer-function objects and files: :class:`TransferFunction`, conversion to mt_metadata's TF, EDI,
EMTF XML and Z-file writing and reading (:mod:`amt.tf.files`)."""

from amt.tf.transfer_function import TransferFunction, TransferFunctionError

__all__ = ["TransferFunction", "TransferFunctionError"]
