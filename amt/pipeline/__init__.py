"""The processing chain: a record to transfer functions, responses and files (:mod:`amt.pipeline.process`).

:mod:`amt.pipeline.process` composes the stages (reading, conventional estimation, sferic events, dead-band
compensation, summaries and writers); :mod:`amt.pipeline.cli` is ``amt process``. This module only names the modes,
so that the command line can list them without importing the chain.
"""

#: What ``amt process --mode`` may be: the conventional estimate, the compensated one, or both side by side.
MODES = ("conventional", "compensated", "both")
