"""Old import path of :mod:`custom_modules.scoring.calibration`, kept because committed hparams, results and
exported models name ``custom_modules.calibration.<name>``: this module *is* that module (same
objects), so both paths load the same classes."""

import sys

from custom_modules.scoring import calibration as _module

sys.modules[__name__] = _module
