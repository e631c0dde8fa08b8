"""Does tftrain's input pipeline keep the model fed? Steps/s per data source, against the
same model fed from a dataset of the very same batches already materialised in memory.

    python benchmarks/data.py [--epochs SCALE] [--repeats 3] [--trainer fit|custom_loop]
                              [--iterators EPOCHS]

For each source the script builds tftrain's Data (the real `build_data`), materialises one
epoch of its training batches into a cached in-memory dataset, and trains two identical
models with tftrain's trainer (`fit` by default, with tftrain's defaults) for the same number of
steps, interleaved and repeated: one fed by tftrain's pipeline, one by the cache. It prints
steps/s after the first epoch and the ratio (goal >= 0.95: the pipeline is never the
bottleneck). Files for the CSV, image and text
sources are written to a temporary folder (the CSV is California housing from
../shared/data when present, else generated). --iterators also times, per epoch, what
a new epoch's iterator costs (creation and first batch, reading, teardown), tftrain's
(tf.data autotuning off) against autotuning on.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_data import write_images, write_table  # noqa: E402  (the tests' fixture writers)


from tftrain.config import compose, schema  # noqa: E402
from tftrain.run import runtime  # noqa: E402
from tftrain.callbacks.record import EpochRecorder  # noqa: E402
from tftrain.config.dataset import build_data  # noqa: E402
from tftrain.config.model import build_model, compile_model  # noqa: E402
from tftrain.config.trainer import build_trainer  # noqa: E402
from tftrain.data import Data  # noqa: E402

keras, tf = runtime.keras, runtime.tf
HOUSING = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "housing.csv"


def sources(folder: Path) -> dict[str, tuple[list[str], int]]:
    write_images(folder / "images", per_class=400)
    write_table(folder / "table.csv", rows=20000)
    for name, words in (("pos", "great fine love"), ("neg", "awful bad hate")):
        (folder / "texts" / name).mkdir(parents=True)
        for i in range(400):
            (folder / "texts" / name / f"{i}.txt").write_text(f"{words} the movie number {i}")
    csv = (["dataset.path=" + str(HOUSING), "dataset.label=median_house_value"] if HOUSING.exists()
           else [f"dataset.path={folder / 'table.csv'}", "dataset.label=label"])
    # Epochs per run: 2-4 s of timed training each on 2 cores, so that one slow moment of the
    # machine weighs little (a digits epoch takes ~40 ms).
    return {
        "digits (embedded)": (["dataset=digits"], 60),
        "synthetic 784": (["dataset=synthetic", "dataset.num_samples=20000",
                           "dataset.shape=[784]"], 6),
        "csv": (["dataset=csv", *csv], 8),
        "image_dir 32x32": (["dataset=image_dir", f"dataset.path={folder / 'images'}",
                             "dataset.image_size=[32,32]", "model=cnn"], 3),
        "text_dir": (["dataset=text_dir", f"dataset.path={folder / 'texts'}"], 30),
    }


def steps_per_second(cfg, data: Data, trainer, epochs: int) -> float:
    """Train a new model on `data` with tftrain's own trainer, as `tftrain` does; steps/s
    over the epochs after the first (which traces), from the epoch timer every run carries."""
    runtime.setup(cfg.seed, False, "float32")
    model = build_model(cfg.model, data.spec)
    compile_model(model, cfg, data.spec, trainer.steps_per_execution, trainer.jit_compile)
    timer = EpochRecorder()
    trainer.train(model, data, [timer])
    return data.steps_per_epoch / statistics.median(timer.train_seconds[1:])


def measure(args: list[str], epochs: int, repeats: int) -> tuple[float, float, float, float]:
    """tftrain's pipeline against a cache of the same batches, each in the same trainer:
    both steps/s (medians over repeats), then the median and spread (max - min) of the
    ratio of each adjacent pair of runs, which run in alternating order, so that a drift
    in the machine's speed hits both sides of a pair alike."""
    cfg = compose.compose([*args, "dataset.val_split=0", "callbacks=none", f"trainer.epochs={epochs}",
                       f"run_dir={tempfile.mkdtemp()}"])
    trainer = build_trainer(cfg.trainer)
    data = build_data(cfg.dataset, trainer.batch_size, cfg.seed)
    batches = tf.nest.map_structure(lambda *b: tf.stack(b), *list(data.train))
    cached = tf.data.Dataset.from_tensor_slices(batches).cache()
    list(cached)  # fill the cache before timing
    in_memory = dataclasses.replace(data, train=cached,
                                    train_epochs=lambda first, last: cached.repeat(last - first))
    piped, cache = [], []
    for repeat in range(repeats):
        pair = (data, in_memory) if repeat % 2 == 0 else (in_memory, data)
        rates = {id(d): steps_per_second(cfg, d, trainer, epochs) for d in pair}
        piped.append(rates[id(data)])
        cache.append(rates[id(in_memory)])
    ratios = [p / c for p, c in zip(piped, cache)]
    return (statistics.median(piped), statistics.median(cache), statistics.median(ratios),
            max(ratios) - min(ratios))


def iterator_lifecycle(dataset, data: Data, epochs: int) -> dict[str, list[float]]:
    """Seconds per epoch to create the epoch's iterator and get its first batch, to read the
    rest, and to tear the iterator down (`del`), which joins its background threads."""
    consume = tf.function(lambda batch: tf.reduce_sum(tf.cast(tf.nest.flatten(batch)[0], tf.float32)))
    times: dict[str, list[float]] = {"start": [], "read": [], "teardown": []}
    for epoch in range(epochs):
        data.set_epoch(epoch)
        started = time.perf_counter()
        iterator = iter(dataset)
        consume(next(iterator))
        first = time.perf_counter()
        for batch in iterator:
            consume(batch)
        read = time.perf_counter()
        del iterator
        times["start"].append(first - started)
        times["read"].append(read - first)
        times["teardown"].append(time.perf_counter() - read)
    return times


def iterators(epochs: int) -> None:
    """What a new epoch costs the training pipeline: tftrain's (tf.data autotuning off) and
    the same with autotuning on (tf.data's default)."""
    tuned = tf.data.Options()
    tuned.autotune.enabled = True
    print(f"\nper-epoch iterator costs, training split, {epochs} epochs (ms: median / max)")
    print(f"{'source':<16}{'autotune':<16}{'start+1st batch':>18}{'read epoch':>16}{'teardown':>16}")
    for name, args in (("digits", ["dataset=digits"]),
                       ("synthetic 784", ["dataset=synthetic", "dataset.num_samples=20000",
                                          "dataset.shape=[784]"])):
        cfg = compose.compose(args)
        data = build_data(cfg.dataset, cfg.trainer.batch_size, cfg.seed)
        for label, dataset in (("off (tftrain)", data.train), ("on", data.train.with_options(tuned))):
            iterator_lifecycle(dataset, data, 2)  # trace the consumer, warm the caches
            cells = iterator_lifecycle(dataset, data, epochs).values()
            print(f"{name:<16}{label:<16}" + "".join(
                f"{statistics.median(v) * 1e3:>9.1f} /{max(v) * 1e3:>6.1f}" for v in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=float, default=1.0,
                        help="scale each source's epochs per run (60 for digits, 3-30 others)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trainer", choices=("fit", "custom_loop"), default="fit")
    parser.add_argument("--iterators", type=int, metavar="EPOCHS", default=0,
                        help="also time each epoch's iterator: start, read, teardown")
    options = parser.parse_args()
    # Each run builds new models and datasets: TensorFlow's retracing detector would warn.
    tf.get_logger().setLevel("ERROR")
    schema.register()
    if options.iterators:
        iterators(options.iterators)
    with tempfile.TemporaryDirectory() as folder:
        rows = [(name, *measure([*args, f"trainer={options.trainer}"],
                                max(2, round(epochs * options.epochs)), options.repeats))
                for name, (args, epochs) in sources(Path(folder)).items()]
    print(f"trainer={options.trainer}; steps/s after the first epoch, median of "
          f"{options.repeats} repeats; ratio: median of the repeats' ratios (spread)")
    print(f"{'source':<20}{'tftrain steps/s':>17}{'cached steps/s':>16}{'ratio':>8}{'spread':>8}"
          "   (goal >= 0.95)")
    for name, piped, cached, ratio, spread in rows:
        print(f"{name:<20}{piped:>17,.0f}{cached:>16,.0f}{ratio:>8.2f}{spread:>8.2f}")


if __name__ == "__main__":
    main()
