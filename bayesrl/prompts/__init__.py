"""Online prompt selection for LLM RL fine-tuning.

* :func:`mopps`: MoPPS (Qu et al. 2025, arXiv:2507.04632) as a pure
  :class:`~bayesrl.base.Agent`, with its low-level functions in
  :mod:`bayesrl.prompts.mopps`.
* :class:`PromptSelector`: the host-side selector trainers call.
"""

from bayesrl.prompts.mopps import (
    MoppsParams,
    MoppsState,
    MoppsUpdateInfo,
    SelectInfo,
    mopps,
)
from bayesrl.prompts.selector import PromptSelector
from bayesrl.prompts.stream import CandidateStream

__all__ = [
    "CandidateStream",
    "MoppsParams",
    "MoppsState",
    "MoppsUpdateInfo",
    "PromptSelector",
    "SelectInfo",
    "mopps",
]
