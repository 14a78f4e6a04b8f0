"""Old import path of :mod:`custom_modules.models.features`, kept because committed hparams, results and
exported models name ``custom_modules.features.<name>``: this module *is* that module (same
objects), so both paths load the same classes."""

import sys

from custom_modules.models import features as _module

sys.modules[__name__] = _module
