"""Streaming sources (TFRecord files, image folders read from disk) through the real CLI:
nothing loaded whole into memory, statistics from the training split, the cache in
memory or in files, and the same exact per-epoch order as in-memory sources."""

from __future__ import annotations

import signal

import numpy as np
import pytest

from conftest import RunFolder, in_process
from test_data import write_images
from test_trainers import start_and_stop_after_epoch

FEATURES = ("+dataset.features={reading: {shape: [6], dtype: float32}, count: {dtype: int64}, "
            "colour: {dtype: string}, species: {dtype: string}}")


def write_records(folder, shards: int = 2, per_shard: int = 300, seed: int = 0) -> None:
    """tf.train.Example shards whose string label follows the numbers and the colour."""
    import tensorflow as tf

    def feature(value) -> tf.train.Feature:
        if isinstance(value, bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        array = np.asarray(value).ravel()
        if array.dtype.kind == "f":
            return tf.train.Feature(float_list=tf.train.FloatList(value=array))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=array))

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for shard in range(shards):
        with tf.io.TFRecordWriter(str(folder / f"part-{shard}.tfrecord")) as writer:
            for _ in range(per_shard):
                kind = int(rng.integers(0, 3))
                example = {"reading": feature((rng.normal(size=6) + 2 * kind).astype(np.float32)),
                           "count": feature(np.int64(rng.integers(0, 5) + 3 * kind)),
                           "colour": feature([b"red", b"green", b"blue"][kind] if rng.random() < 0.7
                                             else b"grey"),
                           "species": feature([b"ant", b"bee", b"cicada"][kind])}
                writer.write(tf.train.Example(
                    features=tf.train.Features(feature=example)).SerializeToString())


@pytest.mark.slow
def test_tfrecords_stream_with_both_trainers_identically_and_cache_to_files(tmp_path, sweep):
    write_records(tmp_path / "records")
    cache = tmp_path / "cache"
    fit, loop = sweep("dataset=tfrecord", f"dataset.path={tmp_path / 'records'}", FEATURES,
                      "dataset.label=species", f"dataset.cache={cache}", "trainer=fit,custom_loop",
                      "trainer.epochs=4")
    for run in (fit, loop):
        data = run.summary["data"]
        assert data["class_names"] == ["ant", "bee", "cicada"]
        assert data["inputs"]["colour"]["kind"] == "categorical"
        assert data["inputs"]["count"]["dtype"] == "float32"
        assert sum(data["sizes"].values()) == 600  # every record in exactly one split
        assert 0.05 < data["sizes"]["val"] / 600 < 0.15 and 0.15 < data["sizes"]["test"] / 600 < 0.25
        assert run.summary["test"]["accuracy"] >= 0.9
    # The same (seed, epoch)-keyed shuffle order: the two trainers match bit for bit.
    assert [r["loss"] for r in fit.metrics] == [r["loss"] for r in loop.metrics]
    cached = sorted(p.name for p in cache.iterdir())
    assert any(name.endswith("_train.index") for name in cached), cached
    assert not any(name.endswith(".lockfile") for name in cached), cached

    # A later run reads the cache and sees the same data in the same order.
    again = in_process("dataset=tfrecord", f"dataset.path={tmp_path / 'records'}", FEATURES,
                       "dataset.label=species", f"dataset.cache={cache}", "trainer.epochs=4",
                       f"hydra.run.dir={tmp_path / 'again'}", cwd=tmp_path)
    assert again.returncode == 0, again.output
    assert [r["loss"] for r in RunFolder(tmp_path / "again").metrics] == [r["loss"] for r in fit.metrics]


def test_tfrecord_validation_files_and_a_regression_label(tmp_path, train):
    write_records(tmp_path / "train", shards=2, seed=0)
    write_records(tmp_path / "val", shards=1, per_shard=100, seed=1)
    run = train("dataset=tfrecord", f"dataset.path={tmp_path / 'train'}/part-*.tfrecord",
                f"dataset.val_path={tmp_path / 'val'}", "dataset.test_split=0",
                "+dataset.features={reading: {shape: [6], dtype: float32}, count: {dtype: int64}}",
                "dataset.label=count", "dataset.task=regression", "trainer.epochs=3")
    data = run.summary["data"]
    assert data["task"] == "regression"
    assert data["sizes"] == {"train": 600, "val": 100, "test": 0}
    assert "val_mae" in run.metrics[-1]


@pytest.mark.slow  # 8-18 s: the default run stays near 5 minutes
def test_image_folder_streams_from_disk_with_the_in_memory_split(tmp_path, sweep):
    write_images(tmp_path / "images")
    memory, disk = sweep("dataset=image_dir", f"dataset.path={tmp_path / 'images'}",
                         "dataset.image_size=[12,12]", "model=cnn", "trainer.batch_size=8",
                         "trainer.epochs=8", "dataset.in_memory=true,false", "dataset.cache=false")
    assert disk.summary["data"]["sizes"] == memory.summary["data"]["sizes"]  # same stratified split
    assert disk.summary["data"]["class_names"] == ["dark", "light"]
    assert disk.summary["data"]["inputs"]["input"] == {"shape": [12, 12, 3], "dtype": "uint8",
                                                       "kind": "raw"}
    assert disk.summary["test"]["accuracy"] >= 0.9


@pytest.mark.parametrize("args, expected", [
    (["dataset.path=nowhere"], ["dataset.path=nowhere", "no such file or folder"]),
    (["dataset.path=records/*.tfr"], ["dataset.path=records/*.tfr", "no TFRecord files"]),
    (["dataset.path=records", "dataset.label=kind"], ["dataset.label='kind'", "reading, colour, species"]),
    (["dataset.path=records", "dataset.features.colour.dtype=text"],
     ["dataset.features.colour.dtype='text'", "float32, int64, string, uint8"]),
], ids=["missing", "no-match", "label", "dtype"])
def test_tfrecord_mistakes_are_named_before_training(tmp_path, args, expected):
    write_records(tmp_path / "records", shards=1, per_shard=10)
    result = in_process("dataset=tfrecord", "+dataset.features={reading: {shape: [6], dtype: float32}, "
                        "colour: {dtype: string}, species: {dtype: string}}", "dataset.label=species",
                        *args, "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 2, result.output
    message = result.stderr.strip().splitlines()[-1]
    for part in expected:
        assert part in message, (part, message)
    assert "Traceback" not in result.output


def write_table_parts(folder, parts: int = 3, rows: int = 400, seed: int = 0, gz: bool = False) -> None:
    """CSV parts of one table: a label following a number and a string, gaps, a quoted note."""
    import gzip

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for part in range(parts):
        lines = ["size,colour,note,kind"]
        for _ in range(rows):
            kind = int(rng.integers(0, 3))
            size = "" if rng.random() < 0.05 else f"{rng.normal() + 2 * kind:.3f}"
            colour = ["red", "green", "blue"][kind] if rng.random() < 0.8 else "NA"
            lines.append(f'{size},{colour},"seen, {kind} times\nthen gone",{["a", "b", "c"][kind]}')
        data = ("\n".join(lines) + "\n").encode()
        name = folder / f"part-{part}.csv{'.gz' if gz else ''}"
        name.write_bytes(gzip.compress(data) if gz else data)


STREAMED = ("dataset=csv", "dataset.label=kind", "dataset.in_memory=false", "dataset.drop=[note]")


@pytest.mark.slow
def test_csv_files_stream_with_both_trainers_identically(tmp_path, sweep):
    write_table_parts(tmp_path / "table", gz=True)
    fit, loop = sweep(*STREAMED, f"dataset.path={tmp_path / 'table'}", "trainer=fit,custom_loop",
                      "trainer.epochs=4", "trainer.batch_size=16")
    for run in (fit, loop):
        data = run.summary["data"]
        assert data["class_names"] == ["a", "b", "c"] and sum(data["sizes"].values()) == 1200
        assert data["inputs"]["size"] == {"shape": [1], "dtype": "float32", "kind": "numeric"}
        assert data["inputs"]["colour"]["kind"] == "categorical" and "note" not in data["inputs"]
        assert run.summary["test"]["accuracy"] >= 0.85
    assert [r["loss"] for r in fit.metrics] == [r["loss"] for r in loop.metrics]


@pytest.mark.slow  # 8-18 s: the default run stays near 5 minutes
def test_a_streamed_csv_learns_what_the_in_memory_one_learns(tmp_path, sweep):
    """The same file read whole and streamed: both fill gaps, look up strings, and learn."""
    write_table_parts(tmp_path / "table", parts=1, rows=600)
    memory, streamed = sweep("dataset=csv", "dataset.label=kind", "dataset.drop=[note]",
                             f"dataset.path={tmp_path / 'table' / 'part-0.csv'}",
                             "dataset.in_memory=true,false", "trainer.epochs=6")
    for run in (memory, streamed):
        assert run.summary["test"]["accuracy"] >= 0.85, run.summary["test"]
    assert memory.summary["data"]["inputs"] == streamed.summary["data"]["inputs"]


@pytest.mark.parametrize("args, expected", [
    (["dataset.path=table/*.tsv"], ["dataset.path=table/*.tsv", "no CSV files"]),
    (["dataset.path=table", "dataset.label=knd"], ["'knd'", "Did you mean 'kind'"]),
    (["dataset.path=table", "dataset.label=[kind,colour]"], ["several labels", "in_memory=true"]),
    (["dataset.path=table", "dataset.drop=[]", "+dataset.columns.note=text"], ["text columns", "in_memory=true"]),
    (["dataset.path=bad", "dataset.drop=[]"], ["column 'size' is numeric", "dataset.columns.size=categorical"]),
], ids=["no-match", "label-typo", "two-labels", "text-column", "not-a-number"])
def test_streamed_csv_mistakes_are_named_before_training(tmp_path, args, expected):
    write_table_parts(tmp_path / "table", parts=1, rows=50)
    (tmp_path / "bad").mkdir()
    rows = ["size,colour,kind"] + [f"{i},red,{'ab'[i % 2]}" for i in range(120_000)]
    rows.append("oops,red,b")  # past the 1 MB head the kinds are inferred from
    (tmp_path / "bad" / "late.csv").write_text("\n".join(rows) + "\n")
    result = in_process("dataset=csv", "dataset.label=kind", "dataset.in_memory=false",
                        "dataset.drop=[note]", *args, "debug=smoke", cwd=tmp_path)
    assert result.returncode == 2, result.output
    message = result.stderr.strip()
    assert "Traceback" not in result.output and len(message.splitlines()) <= 2, message
    for part in expected:
        assert part in message, (part, message)
    assert not (tmp_path / "outputs").exists()


def killed_run_args(tmp_path, source: str) -> tuple[str, ...]:
    """A streaming run large enough to kill between epochs: TFRecord shards or CSV parts."""
    if source == "tfrecord":
        write_records(tmp_path / "records", shards=4, per_shard=5000)
        data = ("dataset=tfrecord", f"dataset.path={tmp_path / 'records'}", FEATURES,
                "dataset.label=species", f"dataset.cache={tmp_path / 'cache'}")
    else:
        write_table_parts(tmp_path / "table", parts=2, rows=3000)
        data = (*STREAMED, f"dataset.path={tmp_path / 'table'}")
    return (*data, "trainer.epochs=4", "deterministic=true", "~callbacks.early_stopping")


@pytest.mark.slow
@pytest.mark.parametrize("source", ["tfrecord", "csv"])
def test_a_killed_streaming_run_resumes_to_the_same_metrics(tmp_path, source):
    """SIGKILL after epoch 2 of 4, resume: the (seed, epoch)-keyed order (and a file cache)
    carry over, so every epoch's metrics equal an uninterrupted run's."""
    args = killed_run_args(tmp_path, source)
    full = in_process("trainer=custom_loop", *args, f"hydra.run.dir={tmp_path / 'full'}", cwd=tmp_path)
    assert full.returncode == 0, full.output
    killed = start_and_stop_after_epoch(tmp_path, "cut", "custom_loop", 2, signal.SIGKILL, args)
    assert killed.returncode == -signal.SIGKILL
    resumed = in_process(f"resume={tmp_path / 'cut'}", cwd=tmp_path)
    assert resumed.returncode == 0 and "resuming after epoch" in resumed.stdout, resumed.output
    expected, got = RunFolder(tmp_path / "full").metrics, RunFolder(tmp_path / "cut").metrics
    assert [r["epoch"] for r in got] == ["1", "2", "3", "4"]
    for want, have in zip(expected, got):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert float(have[key]) == pytest.approx(float(want[key]), rel=1e-5, abs=1e-7), key
