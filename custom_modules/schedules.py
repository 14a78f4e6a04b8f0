"""Old import path of :mod:`custom_modules.training.schedules`, kept because committed hparams, results and
exported models name ``custom_modules.schedules.<name>``: this module *is* that module (same
objects), so both paths load the same classes."""

import sys

from custom_modules.training import schedules as _module

sys.modules[__name__] = _module
