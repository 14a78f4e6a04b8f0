"""Old import path of :mod:`custom_modules.data.dataio`, kept because committed hparams, results and
exported models name ``custom_modules.dataio.<name>``: this module *is* that module (same
objects), so both paths load the same classes."""

import sys

from custom_modules.data import dataio as _module

sys.modules[__name__] = _module
