"""CNN architectures described as data: a JSON spec of named layers, validated, summarised and built with Keras.

A spec (see ``models/*.json``)::

    {"name": "demo-small", "input_length": 400, "alphabet": 4,
     "layers": [{"kind": "conv1d", "filters": 64, "width": 11, "activation": "relu", "padding": "valid"}, ...],
     "output": "sigmoid",
     "training": {"learning_rate": 0.001, "batch_size": 64, "epochs": 20, "patience": 3}}

``layers`` are applied in order to the one-hot input ``(input_length, 4)``; ``output`` names the head appended
after them (``sigmoid``: one unit with a sigmoid, the probability that the sequence is an open-chromatin region
of the tissue). Layer kinds and their parameters are in :data:`LAYER_KINDS`; unknown kinds or parameters are
errors, so a typo never silently falls back to a default. ``training`` holds defaults for
:func:`tacit.training.train` (:data:`TRAINING_DEFAULTS` fill what is missing).

``description`` is optional free text. TensorFlow is imported only inside the functions that build, save, load
or configure models, so reading and summarising specs (and the statistics modules) never load it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import InputError

ACTIVATIONS = ("relu", "linear", "sigmoid", "tanh", "elu", "gelu", "softplus", "exponential")
OUTPUTS = ("sigmoid",)
PADDINGS = ("valid", "same")
TRAINING_DEFAULTS: dict[str, Any] = {"learning_rate": 1e-3, "batch_size": 64, "epochs": 20, "patience": 3}

# Shapes are tuples without the batch axis: (length, channels) for sequences, (units,) for flat vectors.
Shape = tuple[int, ...]


@dataclass(frozen=True)
class LayerKind:
    """One entry of the layer registry.

    Attributes
    ----------
    params
        Parameter name -> (accepted Python types, default or ``None`` when required).
    needs
        Rank of the input shape the layer accepts: 2 (a sequence) or 1 (a flat vector); 0 for any.
    shape
        Output shape from (input shape, parameters).
    weights
        Trainable parameter count from (input shape, parameters).
    flops
        Floating-point operations per sequence from (input shape, output shape, parameters): 2 per multiply-add
        of convolutions and dense layers; bias adds, activations, pooling and dropout are not counted.
    """

    params: dict[str, tuple[tuple[type, ...], Any]]
    needs: int
    shape: Callable[[Shape, dict], Shape]
    weights: Callable[[Shape, dict], int] = lambda shape, p: 0
    flops: Callable[[Shape, Shape, dict], int] = lambda shape, out, p: 0


def _conv_length(length: int, p: dict) -> int:
    return length if p["padding"] == "same" else length - p["width"] + 1


LAYER_KINDS: dict[str, LayerKind] = {
    "conv1d": LayerKind(
        params={"filters": ((int,), None), "width": ((int,), None), "activation": ((str,), "relu"),
                "padding": ((str,), "valid")},
        needs=2,
        shape=lambda s, p: (_conv_length(s[0], p), p["filters"]),
        weights=lambda s, p: p["width"] * s[1] * p["filters"] + p["filters"],
        flops=lambda s, out, p: 2 * out[0] * p["width"] * s[1] * p["filters"],
    ),
    "dropout": LayerKind(params={"rate": ((int, float), None)}, needs=0, shape=lambda s, p: s),
    "maxpool1d": LayerKind(params={"size": ((int,), None)}, needs=2, shape=lambda s, p: (s[0] // p["size"], s[1])),
    "flatten": LayerKind(params={}, needs=2, shape=lambda s, p: (s[0] * s[1],)),
    "global_max_pool": LayerKind(params={}, needs=2, shape=lambda s, p: (s[1],)),
    "global_avg_pool": LayerKind(params={}, needs=2, shape=lambda s, p: (s[1],)),
    "dense": LayerKind(
        params={"units": ((int,), None), "activation": ((str,), "relu")},
        needs=1,
        shape=lambda s, p: (p["units"],),
        weights=lambda s, p: s[0] * p["units"] + p["units"],
        flops=lambda s, out, p: 2 * s[0] * p["units"],
    ),
}
# The head named by "output": one sigmoid unit, counted like a dense layer.
_HEAD = {"kind": "dense", "units": 1, "activation": "sigmoid"}


def _check_layer(layer: Any, index: int, shape: Shape, source: object) -> tuple[dict, Shape]:
    """Validate one layer against the registry and the incoming shape; return it with defaults filled."""
    where = f"layer {index}"
    if not isinstance(layer, dict) or "kind" not in layer:
        raise InputError(f"{where}: expected an object with a 'kind', got {layer!r}", source)
    kind = layer["kind"]
    if kind not in LAYER_KINDS:
        raise InputError(f"{where}: unknown kind {kind!r} (known: {', '.join(LAYER_KINDS)})", source)
    spec = LAYER_KINDS[kind]
    unknown = sorted(set(layer) - set(spec.params) - {"kind"})
    if unknown:
        raise InputError(f"{where} ({kind}): unknown parameter(s) {', '.join(unknown)} "
                         f"(accepted: {', '.join(spec.params) or 'none'})", source)
    filled: dict[str, Any] = {"kind": kind}
    for name, (types, default) in spec.params.items():
        value = layer.get(name, default)
        if value is None:
            raise InputError(f"{where} ({kind}): missing parameter {name!r}", source)
        if isinstance(value, bool) or not isinstance(value, types):
            raise InputError(f"{where} ({kind}): {name} must be {'/'.join(t.__name__ for t in types)}, got {value!r}",
                             source)
        filled[name] = value
    for name in ("filters", "width", "size", "units"):
        if name in filled and filled[name] < 1:
            raise InputError(f"{where} ({kind}): {name} must be >= 1, got {filled[name]}", source)
    if "rate" in filled and not 0 <= filled["rate"] < 1:
        raise InputError(f"{where} ({kind}): rate must be in [0, 1), got {filled['rate']}", source)
    if filled.get("activation", "relu") not in ACTIVATIONS:
        raise InputError(f"{where} ({kind}): activation must be one of {', '.join(ACTIVATIONS)}", source)
    if filled.get("padding", "valid") not in PADDINGS:
        raise InputError(f"{where} ({kind}): padding must be one of {', '.join(PADDINGS)}", source)
    if spec.needs and len(shape) != spec.needs:
        wanted = "a sequence (before flatten or global pooling)" if spec.needs == 2 else \
            "a flat vector (after flatten or global pooling)"
        raise InputError(f"{where} ({kind}): needs {wanted}, but its input has shape {shape}", source)
    out = spec.shape(shape, filled)
    if min(out) < 1:
        raise InputError(f"{where} ({kind}): output shape {out} is empty (input {shape} too short)", source)
    return filled, out


def validate_spec(data: Any, source: object = None) -> dict:
    """Check a spec (parsed JSON) and return a copy with every default filled in.

    Parameters
    ----------
    data
        The parsed spec.
    source
        The file it came from, named in errors.

    Raises
    ------
    InputError
        Naming ``source`` and, for a bad layer, its 0-based index: missing or unknown keys, unknown layer kinds
        or parameters, wrong types, a layer whose output would be empty, a dense layer before flattening, layers
        that do not end in a flat vector, an unknown output head or training setting.
    """
    if not isinstance(data, dict):
        raise InputError("a model spec must be a JSON object", source)
    known = {"name", "description", "input_length", "alphabet", "layers", "output", "training"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(unknown)} (accepted: {', '.join(sorted(known))})", source)
    for key in ("name", "input_length", "layers"):
        if key not in data:
            raise InputError(f"missing key {key!r}", source)
    if not isinstance(data["name"], str) or not data["name"]:
        raise InputError("name must be a non-empty string", source)
    length = data["input_length"]
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise InputError(f"input_length must be a positive integer, got {length!r}", source)
    if data.get("alphabet", 4) != 4:
        raise InputError(f"alphabet must be 4 (one-hot A, C, G, T), got {data['alphabet']!r}", source)
    if data.get("output", "sigmoid") not in OUTPUTS:
        raise InputError(f"output must be one of {', '.join(OUTPUTS)}, got {data['output']!r}", source)
    if not isinstance(data["layers"], list) or not data["layers"]:
        raise InputError("layers must be a non-empty list", source)
    shape: Shape = (length, 4)
    layers = []
    for index, layer in enumerate(data["layers"]):
        filled, shape = _check_layer(layer, index, shape, source)
        layers.append(filled)
    if len(shape) != 1:
        raise InputError(f"the layers must end in a flat vector (add flatten or a global pool); they end in shape "
                         f"{shape}", source)
    training = dict(TRAINING_DEFAULTS)
    given = data.get("training", {})
    if not isinstance(given, dict) or set(given) - set(TRAINING_DEFAULTS):
        raise InputError(f"training must be an object with keys among {', '.join(TRAINING_DEFAULTS)}", source)
    for key, value in given.items():
        positive = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        if not positive or (key != "learning_rate" and not isinstance(value, int)):
            raise InputError(f"training.{key} must be a positive {'number' if key == 'learning_rate' else 'integer'}, "
                             f"got {value!r}", source)
        training[key] = value
    return {"name": data["name"], "description": data.get("description", ""), "input_length": length,
            "alphabet": 4, "layers": layers, "output": data.get("output", "sigmoid"), "training": training}


def load_spec(path: str | os.PathLike[str]) -> dict:
    """Read and validate a spec JSON file (see :func:`validate_spec`); bad JSON is an InputError with its line."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise InputError("model spec not found", path) from None
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON: {err.msg} (column {err.colno})", path, err.lineno) from None
    return validate_spec(data, path)


def _all_layers(spec: dict) -> list[dict]:
    """The spec's layers followed by its output head."""
    return list(spec["layers"]) + [dict(_HEAD)]


def summary_rows(spec: dict) -> list[dict]:
    """One row per layer (and the output head): index, kind, parameters, output shape, weights, FLOPs.

    Shapes exclude the batch axis. ``flops`` counts 2 per multiply-add of convolutions and dense layers.
    """
    rows = []
    shape: Shape = (spec["input_length"], spec["alphabet"])
    for index, layer in enumerate(_all_layers(spec)):
        kind = LAYER_KINDS[layer["kind"]]
        out = kind.shape(shape, layer)
        settings = ", ".join(f"{k}={v}" for k, v in layer.items() if k != "kind")
        rows.append({"index": index, "kind": layer["kind"] if index < len(spec["layers"]) else "output",
                     "settings": settings, "output_shape": out, "params": kind.weights(shape, layer),
                     "flops": kind.flops(shape, out, layer)})
        shape = out
    return rows


def count_params(spec: dict) -> int:
    """Trainable parameters of the model the spec describes."""
    return sum(row["params"] for row in summary_rows(spec))


def flops_per_sequence(spec: dict) -> int:
    """Floating-point operations to score one sequence once (2 per multiply-add of convolutions and dense layers)."""
    return sum(row["flops"] for row in summary_rows(spec))


def _keras_layer(layer: dict, name: str, seed: int):
    """The Keras layer for one validated layer dict; initialisers and dropout are seeded from ``seed``."""
    import keras

    kind = layer["kind"]
    if kind == "conv1d":
        return keras.layers.Conv1D(layer["filters"], layer["width"], activation=layer["activation"],
                                   padding=layer["padding"], name=name,
                                   kernel_initializer=keras.initializers.GlorotUniform(seed=seed))
    if kind == "dense":
        return keras.layers.Dense(layer["units"], activation=layer["activation"], name=name,
                                  kernel_initializer=keras.initializers.GlorotUniform(seed=seed))
    if kind == "dropout":
        return keras.layers.Dropout(layer["rate"], seed=seed, name=name)
    if kind == "maxpool1d":
        return keras.layers.MaxPooling1D(layer["size"], name=name)
    if kind == "flatten":
        return keras.layers.Flatten(name=name)
    if kind == "global_max_pool":
        return keras.layers.GlobalMaxPooling1D(name=name)
    if kind == "global_avg_pool":
        return keras.layers.GlobalAveragePooling1D(name=name)
    raise AssertionError(f"layer kind {kind!r} is registered but has no builder")  # pragma: no cover


def build_model(spec: dict, seed: int = 1):
    """Build the (uncompiled) Keras model of a validated spec, with weights initialised from ``seed``.

    Layer ``i`` of the spec is named ``{i:02d}_{kind}``, the head ``output``. The model's input is
    ``(batch, input_length, 4)`` float32 one-hot; its output ``(batch, 1)``.
    """
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(spec["input_length"], spec["alphabet"]), name="onehot")
    x = inputs
    for index, layer in enumerate(spec["layers"]):
        x = _keras_layer(layer, f"{index:02d}_{layer['kind']}", seed + index)(x)
    outputs = _keras_layer(dict(_HEAD), "output", seed + len(spec["layers"]))(x)
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in spec["name"])
    return keras.Model(inputs, outputs, name=name)


def format_summary(spec: dict) -> str:
    """A text table of :func:`summary_rows` with totals, for ``tacit model summary``."""
    rows = summary_rows(spec)
    lines = [f"model {spec['name']}: input ({spec['input_length']}, {spec['alphabet']}) one-hot, "
             f"output {spec['output']}",
             f"{'#':>3}  {'layer':<16} {'output shape':<14} {'params':>12} {'FLOPs':>15}  settings"]
    for row in rows:
        lines.append(f"{row['index']:>3}  {row['kind']:<16} {str(row['output_shape']):<14} {row['params']:>12,} "
                     f"{row['flops']:>15,}  {row['settings']}")
    total_params = sum(r["params"] for r in rows)
    total_flops = sum(r["flops"] for r in rows)
    lines.append(f"total parameters: {total_params:,}")
    lines.append(f"FLOPs per sequence: {total_flops:,} ({total_flops / 1e9:.3g} GFLOP; x2 with reverse complement)")
    lines.append("training defaults: " + ", ".join(f"{k}={v}" for k, v in spec["training"].items()))
    return "\n".join(lines)




def configure_tensorflow(threads: int | None = None, deterministic: bool = True) -> None:
    """Set TensorFlow's thread pools (``threads`` intra-op, 1 inter-op) and deterministic kernels.

    Thread pools can only be set before TensorFlow first runs an op; later calls (e.g. several trainings in
    one test process) keep the pools already in place.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # the runtime is already initialised in this process
            pass
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _renumber_shared_objects(node: Any, ids: dict[int, int]) -> Any:
    """Replace Keras' ``shared_object_id`` values (memory addresses, different in every process) by 1, 2, ...
    in order of first appearance, keeping equal ids equal so shared objects stay shared."""
    if isinstance(node, dict):
        return {key: ids.setdefault(value, len(ids) + 1) if key == "shared_object_id"
                else _renumber_shared_objects(value, ids) for key, value in node.items()}
    if isinstance(node, list):
        return [_renumber_shared_objects(value, ids) for value in node]
    return node


def save_model(model, path: str | os.PathLike[str]) -> None:
    """Save a Keras model atomically as ``.keras`` (or legacy ``.h5``), reproducibly.

    Keras stamps ``.keras`` archives with the save time (``date_saved`` in ``metadata.json`` and the zip entry
    times) and memory addresses (``shared_object_id`` in ``config.json``); these are replaced by fixed values, so
    the same model always gives the same bytes.
    """
    import tempfile
    import zipfile

    from .io import atomic_path

    dest = Path(path)
    suffix = ".h5" if dest.suffix == ".h5" else ".keras"
    with atomic_path(dest) as tmp, tempfile.TemporaryDirectory(dir=tmp.parent, prefix=".keras-") as workdir:
        raw = Path(workdir) / f"model{suffix}"
        model.save(raw)
        if suffix == ".h5":
            shutil.copyfile(raw, tmp)
            return
        with zipfile.ZipFile(raw) as src, zipfile.ZipFile(tmp, "w") as out:
            for info in sorted(src.infolist(), key=lambda i: i.filename):
                data = src.read(info)
                if info.filename == "metadata.json":
                    meta = json.loads(data)
                    meta.pop("date_saved", None)
                    data = json.dumps(meta, sort_keys=True).encode()
                elif info.filename == "config.json":
                    data = json.dumps(_renumber_shared_objects(json.loads(data), {})).encode()
                fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
                fixed.compress_type = info.compress_type
                fixed.external_attr = 0o644 << 16
                out.writestr(fixed, data)


def load_model(path: str | os.PathLike[str]):
    """Load a saved ``.keras`` or ``.h5`` model for inference (not compiled); a missing or unreadable file is an
    InputError."""
    if not Path(path).is_file():
        raise InputError("model file not found", path)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except (ValueError, OSError) as err:
        raise InputError(f"cannot load Keras model: {err}", path) from None
