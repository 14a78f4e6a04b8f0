"""Read a model folder's ``hyperparams.yaml`` without running code it was not meant to run.

A SpeechBrain model folder's ``hyperparams.yaml`` is code: HyperPyYAML builds every
``!new:<callable>`` object, calls every ``!apply:<function>`` while loading, imports every
``!name:``/``!module:`` target and reads every ``!include:`` file. A folder from someone else
can therefore run anything (``!apply:os.system``) the moment it is loaded, and
``torch.load(..., weights_only=True)`` protects only the checkpoint, not the YAML.

:func:`check_model_yaml` reads the YAML's node graph (tags resolved as YAML resolves them,
``%TAG`` directives and verbose tags included) without constructing anything, and refuses
a file that uses any tag beyond the data tags (``!ref``, ``!copy``, ``!tuple``,
``!PLACEHOLDER``) and ``!new:`` of the classes that model folders exported by this project
(and SpeechBrain's own speaker models) are built from (:data:`MODEL_FOLDER_CALLABLES`).
:func:`custom_modules.experiment.load_pretrained` calls it unless told to trust the folder.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import List, Tuple

__all__ = ["MODEL_FOLDER_CALLABLES", "UntrustedModelError", "disallowed_tags", "check_model_yaml"]

MODEL_FOLDER_CALLABLES = frozenset(
    {
        # this project's exports (custom_modules/export/speechbrain_folder.py)
        "custom_modules.models.features.SpeakerFeatures",
        "custom_modules.models.res2net.Res2Net50",
        "custom_modules.models.res2net.Res2NetSpeakerEncoder",
        "custom_modules.models.floor.CepstralStatistics",  # the no-learning floor (recipes/floor.py)
        "custom_modules.models.floor.NoNormalization",
        "speechbrain.processing.features.InputNormalization",
        "speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN",
        "speechbrain.utils.parameter_transfer.Pretrainer",
        # SpeechBrain's pretrained speaker models (spkrec-ecapa-voxceleb, spkrec-xvect-voxceleb)
        "speechbrain.lobes.features.Fbank",
        "speechbrain.lobes.features.MFCC",
        "speechbrain.lobes.models.Xvector.Xvector",
        "speechbrain.lobes.models.ECAPA_TDNN.Classifier",
        "speechbrain.dataio.encoder.CategoricalEncoder",
    }
)
DATA_TAGS = frozenset({"!ref", "!copy", "!tuple", "!PLACEHOLDER"})
YAML_CORE = "tag:yaml.org,2002:"
YAML_CORE_TYPES = frozenset(
    {
        "str",
        "int",
        "float",
        "bool",
        "null",
        "map",
        "seq",
        "timestamp",
        "binary",
        "merge",
        "omap",
        "pairs",
        "set",
        "value",
    }
)


class UntrustedModelError(ValueError):
    """A model folder's YAML would run code outside the allow-list."""


def disallowed_tags(text: str) -> List[Tuple[int, str]]:
    """(line, tag) of every YAML tag in ``text`` that is neither plain data nor ``!new:`` of
    an allowed class, in file order.

    Example
    -------
    >>> disallowed_tags("a: !new:speechbrain.lobes.features.Fbank\\n    n_mels: 80\\n")
    []
    >>> disallowed_tags("a: 1\\nb: !apply:os.system [echo hi]\\nc: !name:builtins.eval\\n")
    [(2, '!apply:os.system'), (3, '!name:builtins.eval')]
    """
    import ruamel.yaml

    root = ruamel.yaml.YAML(typ="rt").compose(text)
    found, seen, stack = [], set(), [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        tag = str(getattr(node.tag, "value", node.tag) or "")
        if not _allowed(tag):
            found.append((node.start_mark.line + 1, tag))
        if isinstance(node.value, list):
            for item in node.value:
                stack.extend(item if isinstance(item, tuple) else (item,))
    return sorted(found)


def _allowed(tag: str) -> bool:
    if not tag or tag in DATA_TAGS:
        return True
    if tag.startswith(YAML_CORE):
        return tag[len(YAML_CORE) :] in YAML_CORE_TYPES
    if tag.startswith("!new:"):
        return tag[len("!new:") :] in MODEL_FOLDER_CALLABLES
    return False


def check_model_yaml(text: str, source: str) -> None:
    """Raise :class:`UntrustedModelError` naming the first disallowed tags of ``source``.

    Example
    -------
    >>> check_model_yaml("x: !apply:os.system [rm -rf ~]\\n", "model/hyperparams.yaml")
    Traceback (most recent call last):
    ...
    custom_modules.export.safe_yaml.UntrustedModelError: model/hyperparams.yaml line 1: !apply:os.system would run code while loading; this project loads model folders only when every tag is data or !new: of a known model class. Load it only if you trust who made it: --trust_model_code (eval: trust_model_code: True)
    """
    found = disallowed_tags(text)
    if found:
        where = "; ".join(f"line {line}: {tag}" for line, tag in found[:3])
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        raise UntrustedModelError(
            f"{source} {where}{more} would run code while loading; this project loads model folders only when "
            "every tag is data or !new: of a known model class. Load it only if you trust who made it: "
            "--trust_model_code (eval: trust_model_code: True)"
        )
