"""What `tftrain-export` and the training key `export=` accept, decided once: the formats,
the arguments each takes, and the packages each needs. No TensorFlow here: composing a
config checks `export=` against this table before anything trains, and `tftrain-export`
refuses a misspelt format, an argument the formats asked for do not take, or a missing
package before it loads a model.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tftrain.errors import TftrainError, did_you_mean

EXTRA = "pip install 'tftrain[export]'"
TOLERANCE = 2.0  # points of metric a quantized export may lose by default
FLOAT32_TOLERANCE = 1e-4  # the largest difference from Keras' outputs a float32 export may have
OPSETS = range(13, 19)  # the ONNX opsets tf2onnx converts to that onnxruntime runs


@dataclass(frozen=True)
class Format:
    """One export format: what it writes and runs in, its own arguments, its packages
    (module -> what pip installs)."""

    what: str
    runtime: str
    arguments: tuple[str, ...]
    packages: tuple[tuple[str, str], ...]


FORMATS = {
    "saved_model": Format("TensorFlow SavedModel (TF Serving, TF.js converters)",
                          "tf.saved_model.load", (), ()),
    "onnx": Format("ONNX graph", "onnxruntime", ("opset",),
                   (("tf2onnx", "tf2onnx"), ("onnx", "onnx"), ("onnxruntime", "onnxruntime"))),
    "litert": Format("LiteRT flatbuffer (formerly TensorFlow Lite)", "LiteRT interpreter",
                     ("quantize", "flex", "tolerance"), (("ai_edge_litert", "ai-edge-litert"),)),
}
ALIASES = {"savedmodel": "saved_model", "tflite": "litert", "tf_saved_model": "saved_model"}
QUANTIZE = ("none", "float16", "dynamic", "int8")
# What each argument takes, for messages and the table (format= is every format's).
ARGUMENTS = {
    "format": f"{', '.join(FORMATS)} (several joined by commas, or all)",
    "quantize": f"{', '.join(QUANTIZE)} (several joined by commas, or all): float16 weights, "
                "int8 weights (dynamic), or int8 weights and activations calibrated on the "
                "run's training split (int8)",
    "flex": "true or false (default): let LiteRT fall back to TensorFlow ops it has no "
            "built-in op for (the app then needs the Flex delegate, some 6 MB)",
    "opset": f"an ONNX opset from {OPSETS[0]} to {OPSETS[-1]} (default: tf2onnx's)",
    "tolerance": f"points of the metric a quantized export may lose (default {TOLERANCE:g})",
}


@dataclass(frozen=True)
class Request:
    """The exports asked for, checked: each format once, LiteRT once per quantization."""

    formats: tuple[str, ...]
    quantize: tuple[str, ...] = ("none",)
    flex: bool = False
    opset: int | None = None
    tolerance: float = TOLERANCE

    def artifacts(self) -> list[tuple[str, str]]:
        """(format, quantization) of every file to write, in the table's order."""
        return [(name, q) for name in self.formats
                for q in (self.quantize if name == "litert" else ("none",))]


def file_name(name: str, quantize: str) -> str:
    """Where an export lands in the export folder: saved_model/, model.onnx, model.tflite,
    model.int8.tflite, ..."""
    if name == "saved_model":
        return "saved_model"
    suffix = {"onnx": "onnx", "litert": "tflite"}[name]
    return f"model.{suffix}" if quantize == "none" else f"model.{quantize}.{suffix}"


def from_config(value: object) -> Request | None:
    """The training key `export=`: null, a format (savedmodel stays accepted), all, a list
    of formats, or a mapping of tftrain-export's arguments ({format: litert, quantize:
    int8})."""
    if value is None or value is False:
        return None
    if isinstance(value, Mapping):
        return request({str(k): v for k, v in value.items()}, lambda key: f"export.{key}",
                       taken=tuple(ARGUMENTS))
    return request({"format": value}, lambda key: "export", taken=tuple(ARGUMENTS))


def request(given: Mapping[str, object], named: Callable[[str], str] = str,
            taken: tuple[str, ...] = tuple(ARGUMENTS)) -> Request:
    """The Request of arguments as given (`named`: how a message names an argument's key;
    `taken`: the arguments the caller accepts), or the TftrainError saying what is wrong."""
    for key in given:
        if key not in taken:
            raise TftrainError(f"{named(key)}={text(given[key])}: no such argument; export takes "
                               f"{', '.join(f'{k}=' for k in taken)}."
                               + did_you_mean(key, taken))
    formats = chosen(given.get("format", "all"), list(FORMATS), ALIASES, named("format"))
    quantize = chosen(given.get("quantize", "none"), list(QUANTIZE), {}, named("quantize"))
    for key in given:
        users = [n for n in FORMATS if key in FORMATS[n].arguments]
        if key != "format" and not set(users) & set(formats):
            raise TftrainError(f"{named(key)}={text(given[key])}: {key}= is taken by "
                               f"{' and '.join(users)} only, and {named('format')}="
                               f"{','.join(formats)} was asked for. Each format takes: "
                               f"{takes()}.")
    if "tolerance" in given and quantize == ("none",):
        raise TftrainError(f"{named('tolerance')}={text(given['tolerance'])}: the tolerance is "
                           "for quantized exports, and none was asked for; add "
                           f"{named('quantize')}=int8 (or float16, dynamic).")
    return Request(formats, quantize, flag(given.get("flex", False), named("flex")),
                   opset(given.get("opset"), named("opset")),
                   points(given.get("tolerance", TOLERANCE), named("tolerance")))


def takes() -> str:
    """Each format's own arguments, as refusals list them: `saved_model: none; onnx: opset=; ...`."""
    return "; ".join(f"{name}: " + (", ".join(f"{a}=" for a in f.arguments) or "none")
                     for name, f in FORMATS.items())


def text(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def chosen(value: object, options: list[str], aliases: dict[str, str], key: str) -> tuple[str, ...]:
    """A comma list (or a config list) of options, `all` for every one, aliases accepted;
    in the table's order, each once."""
    words = [w.strip() for w in (value if isinstance(value, (list, tuple)) else
                                 str(value).split(",")) if str(w).strip()]
    words = [str(w).lower() for w in words] or ["(nothing)"]
    if "all" in words:
        return tuple(options)
    for word in words:
        if aliases.get(word, word) not in options:
            raise TftrainError(f"{key}={text(value)}: '{word}' is no choice here; choose from "
                               f"{', '.join(options)}, several joined by commas, or all."
                               + did_you_mean(word, [*options, *aliases]))
    picked = {aliases.get(w, w) for w in words}
    return tuple(o for o in options if o in picked)


def flag(value: object, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise TftrainError(f"{key}={value}: give true or false.")


def opset(value: object, key: str) -> int | None:
    if value is None:
        return None
    if not str(value).isdigit() or int(str(value)) not in OPSETS:
        raise TftrainError(f"{key}={value}: give {ARGUMENTS['opset']}.")
    return int(str(value))


def points(value: object, key: str) -> float:
    try:
        number = float(str(value))
    except ValueError:
        number = -1.0
    if not 0 <= number <= 100:
        raise TftrainError(f"{key}={value}: give the points of the metric (0 to 100) a "
                           "quantized export may lose, e.g. 2 (0.9800 -> 0.9600 loses 2).")
    return number


def missing_packages(formats: tuple[str, ...]) -> None:
    """Refuse formats whose converter or runtime is not installed, naming the extra that
    brings them (each export is checked in its runtime, so the runtime is needed too)."""
    absent = {name: [pip for module, pip in FORMATS[name].packages
                     if importlib.util.find_spec(module) is None] for name in formats}
    absent = {name: pips for name, pips in absent.items() if pips}
    if absent:
        said = "; ".join(f"{name} needs {' and '.join(pips)}" for name, pips in absent.items())
        raise TftrainError(f"{said}, not installed here (each export is converted and then "
                           f"checked in its own runtime). Install them with: {EXTRA}")


def table() -> str:
    """The formats and the arguments each takes, as `--help` and README show them."""
    rows = [f"  {name:<12} {f.what}; checked in {f.runtime}" +
            (f"\n  {'':<12} takes " + ", ".join(f"{a}=" for a in f.arguments) if f.arguments else "")
            for name, f in FORMATS.items()]
    keys = [f"  {key + '=':<12} {what}" for key, what in ARGUMENTS.items()]
    return "\n".join(["Formats:", *rows, "Arguments:", *keys])

