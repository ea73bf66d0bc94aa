"""Validated parameters, one pydantic model per job kind, one module per kind.

Kept apart from the engines so the API validates a request without importing torch.
"""

from audiomill.params.common import EncodeOptions, OutputFormat
from audiomill.params.separate import SeparateParams, VocalSplitParams

__all__ = ["EncodeOptions", "OutputFormat", "SeparateParams", "VocalSplitParams"]
