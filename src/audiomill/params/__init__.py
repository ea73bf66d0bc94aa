"""Validated parameters, one pydantic model per job kind, one module per kind.

Kept apart from the engines so the API validates a request without importing torch.
"""

from audiomill.params.analyze import AnalyzeParams
from audiomill.params.boost import BoostParams
from audiomill.params.common import EncodeOptions, OutputFormat
from audiomill.params.denoise import DenoiseParams
from audiomill.params.generate import GenerateParams
from audiomill.params.hum_to_beat import HumToBeatParams
from audiomill.params.separate import SeparateParams, VocalSplitParams
from audiomill.params.speaker import SpeakerExtractParams

__all__ = [
    "AnalyzeParams",
    "BoostParams",
    "DenoiseParams",
    "EncodeOptions",
    "GenerateParams",
    "HumToBeatParams",
    "OutputFormat",
    "SeparateParams",
    "SpeakerExtractParams",
    "VocalSplitParams",
]
