"""Old import path of :mod:`custom_modules.models.am_softmax`, kept because committed hparams, results and
exported models name ``custom_modules.am_softmax.<name>``: this module *is* that module (same
objects), so both paths load the same classes."""

import sys

from custom_modules.models import am_softmax as _module

sys.modules[__name__] = _module
