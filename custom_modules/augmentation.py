"""Old import path of :mod:`custom_modules.data.augmentation`, kept because committed hparams, results and
exported models name ``custom_modules.augmentation.<name>``: this module *is* that module (same
objects), so both paths load the same classes."""

import sys

from custom_modules.data import augmentation as _module

sys.modules[__name__] = _module
