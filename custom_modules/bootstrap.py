"""Old import path of :mod:`custom_modules.scoring.bootstrap`, kept because committed hparams, results and
exported models name ``custom_modules.bootstrap.<name>``: this module *is* that module (same
objects), so both paths load the same classes."""

import sys

from custom_modules.scoring import bootstrap as _module

sys.modules[__name__] = _module
