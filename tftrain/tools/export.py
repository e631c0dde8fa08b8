"""`tftrain-export RUN_FOLDER format=saved_model|onnx|litert|all [quantize=...] [flex=true]
[opset=N] [tolerance=POINTS]`: a trained run's model as files other runtimes load, each
verified in its runtime on the run's test split (tftrain.run.export, which the training key
`export=` runs too).

The arguments are checked against the table of formats (tftrain.config.exports) and the
converters' packages looked for before the run folder is read; the test split (and, for
int8, the training split it is calibrated on) is rebuilt from the run's config as
tftrain-eval rebuilds it.
"""

from __future__ import annotations

import sys

from tftrain.config import exports
from tftrain.console import echo
from tftrain.errors import TftrainError
from tftrain.fast_exit import exits_fast
from tftrain.run.folder import RunFolder
from tftrain.tools.evaluate import load_model, run_config, run_record, tool_command

USAGE = f"""Usage: tftrain-export RUN_FOLDER format=FORMAT[,FORMAT...]|all [quantize=Q] [flex=true] [opset=N] [tolerance=POINTS]

Write RUN_FOLDER's model as files other runtimes load, into RUN_FOLDER/export/, and check
each in its own runtime on the run's test split beside Keras: the largest difference of the
outputs, the share of equal top-1 predictions, the metric, the file size and the latency at
batch 1 and 32. The figures go to export/report.json and export/report.md. A float32 export
differing from Keras by more than 1e-4, or a quantized one losing more than tolerance=
points, fails (exit 1). Class names, inputs, versions and fingerprints travel inside each file.

{exports.table()}"""


def parsed(arguments: list[str]) -> exports.Request:
    """The arguments as a checked Request (KEY=VALUE each)."""
    loose = [a for a in arguments if "=" not in a]
    if loose:
        raise TftrainError(f"tftrain-export takes KEY=VALUE arguments after the run folder "
                           f"({', '.join(f'{k}=' for k in exports.ARGUMENTS)}); got "
                           f"{' '.join(loose)}. Example: tftrain-export RUN format=onnx,litert.")
    given = dict(a.split("=", 1) for a in arguments)
    if "format" not in given:
        raise TftrainError("tftrain-export needs format=: "
                           f"{exports.ARGUMENTS['format']}. Example: tftrain-export RUN format=all.")
    return exports.request(given)


def export_folder(folder: RunFolder, arguments: list[str]) -> None:
    request = parsed(arguments)  # the arguments, then the packages, then the run folder
    exports.missing_packages(request.formats)
    summary = folder.summary("tftrain-export")
    sizes = summary.get("data", {}).get("sizes", {})
    if sizes and not sizes.get("test") and not sizes.get("val"):
        raise TftrainError(f"{folder.given} kept no test or validation split to verify the "
                           f"exports on (train {sizes.get('train')}, val 0, test 0); train it "
                           "with one (dataset.test_split=0.2).")
    file = folder.model_file("tftrain-export")
    cfg = run_config(folder, [])
    from tftrain.run import runtime
    from tftrain.run.export import Examples, export, examples, exportable, record_of
    from tftrain.run.export_formats import CALIBRATION_EXAMPLES
    from tftrain.tools.eval_data import eval_data

    runtime.setup(cfg.seed, False, "float32")
    run = run_record(summary)

    def split(name: str | None) -> Examples:
        data = eval_data(cfg.dataset, run, cfg.trainer.batch_size, cfg.seed, name, True)
        return examples(data.split, data.dataset, CALIBRATION_EXAMPLES if name == "train" else None)

    model = load_model(folder, "tftrain-export", file)
    exportable(model, folder.given)
    test = split(None)  # the test split, all of it (the validation split where none)
    echo(f"verifying on the run's {test.name} split ({test.samples} samples)")
    calibrate = (lambda: split("train")) if "int8" in request.quantize else None
    export(request, model, test, calibrate, record_of(summary, folder.path), folder.path / "export")


def command(args: list[str]) -> int:
    """`tftrain-export ARGS` in this process; its exit status."""
    return tool_command(USAGE, export_folder, args)


@exits_fast
def main() -> None:
    sys.exit(command(sys.argv[1:]))


if __name__ == "__main__":
    main()
