"""Old import path of :mod:`custom_modules.export.interface`, kept because committed hparams, results and
exported models name ``custom_modules.interface.<name>``: this module *is* that module (same
objects), so both paths load the same classes."""

import sys

from custom_modules.export import interface as _module

sys.modules[__name__] = _module
