"""Does tftrain's input pipeline keep the model fed? Steps/s per data source, against the
same model fed from a dataset of the very same batches already materialised in memory.

    python benchmarks/data.py [--epochs 4] [--repeats 3]

For each source the script builds tftrain's Data (the real `build_data`), materialises one
epoch of its training batches into a cached in-memory dataset, and trains two identical
models with `fit` for the same number of steps, interleaved and repeated: one fed by
tftrain's pipeline, one by the cache. It prints steps/s after the first epoch and the ratio
(goal >= 0.95: the pipeline is never the bottleneck). Files for the CSV, image and text
sources are written to a temporary folder (the CSV is California housing from
../shared/data when present, else generated).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_data import write_images, write_table  # noqa: E402  (the tests' fixture writers)

from tftrain import cli, runner, runtime, schema  # noqa: E402
from tftrain.data import build_data  # noqa: E402
from tftrain.models import build_model  # noqa: E402

keras, tf = runtime.keras, runtime.tf
HOUSING = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "housing.csv"


def sources(folder: Path) -> dict[str, list[str]]:
    write_images(folder / "images", per_class=400)
    write_table(folder / "table.csv", rows=20000)
    for name, words in (("pos", "great fine love"), ("neg", "awful bad hate")):
        (folder / "texts" / name).mkdir(parents=True)
        for i in range(400):
            (folder / "texts" / name / f"{i}.txt").write_text(f"{words} the movie number {i}")
    csv = (["dataset.path=" + str(HOUSING), "dataset.label=median_house_value"] if HOUSING.exists()
           else [f"dataset.path={folder / 'table.csv'}", "dataset.label=label"])
    return {
        "digits (embedded)": ["dataset=digits"],
        "synthetic 784": ["dataset=synthetic", "dataset.num_samples=20000", "dataset.shape=[784]"],
        "csv": ["dataset=csv", *csv],
        "image_dir 32x32": ["dataset=image_dir", f"dataset.path={folder / 'images'}",
                            "dataset.image_size=[32,32]", "model=cnn"],
        "text_dir": ["dataset=text_dir", f"dataset.path={folder / 'texts'}"],
    }


def compiled_model(cfg, data, trainer) -> keras.Model:
    runtime.setup(cfg.seed, False, "float32")
    model = build_model(cfg.model, data.spec)
    runner.compile_model(model, cfg, data.spec, trainer)
    return model


def steps_per_second(model: keras.Model, dataset, steps: int, epochs: int, on_epoch) -> float:
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            on_epoch(epoch)
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(dataset, epochs=epochs, verbose=0, callbacks=[Clock()], shuffle=False)
    return steps / statistics.median(times[1:])


def measure(args: list[str], epochs: int, repeats: int) -> tuple[float, float]:
    from hydra.utils import instantiate

    cfg = cli.compose([*args, "dataset.val_split=0", "callbacks=none", f"run_dir={tempfile.mkdtemp()}"])
    trainer = instantiate(cfg.trainer, _recursive_=False)
    data = build_data(cfg.dataset, trainer.batch_size, cfg.seed)
    cached = tf.data.Dataset.from_tensor_slices(
        tf.nest.map_structure(lambda *b: tf.stack(b), *list(data.train))).cache()
    list(cached)  # fill the cache before timing
    piped, in_memory = [], []
    for _ in range(repeats):
        piped.append(steps_per_second(compiled_model(cfg, data, trainer), data.train,
                                      data.steps_per_epoch, epochs, data.set_epoch))
        in_memory.append(steps_per_second(compiled_model(cfg, data, trainer), cached,
                                          data.steps_per_epoch, epochs, lambda epoch: None))
    return statistics.median(piped), statistics.median(in_memory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    schema.register()
    with tempfile.TemporaryDirectory() as folder:
        rows = [(name, *measure(args, options.epochs, options.repeats))
                for name, args in sources(Path(folder)).items()]
    print(f"{'source':<20}{'tftrain steps/s':>17}{'cached steps/s':>16}{'ratio':>8}   (goal >= 0.95)")
    for name, piped, cached in rows:
        print(f"{name:<20}{piped:>17,.0f}{cached:>16,.0f}{piped / cached:>8.2f}")


if __name__ == "__main__":
    main()
