"""The data door as files are found: a dataset folder reached by a relative path or through
hidden folders, streams that hold nothing or are cut short, inputs whose emptiness showed
only downstream, and splits too small for their classes. Each either reads what the user
meant, or is refused in one paragraph naming the file (and the record or column) that
caused it, exit status 2, with no run folder left behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_refused, in_process

SMOKE = ("debug=smoke", "trainer.batch_size=4")


def refused(result, cwd: Path, fragments: list[str]) -> str:
    """The bad-input promise, and no run folder under `cwd`."""
    assert_refused(result, 2, fragments)
    assert not (cwd / "outputs").exists() and not (cwd / "run").exists()
    return result.stderr.strip()


def trained(cwd: Path, *args: str) -> tuple[str, dict]:
    """A smoke run from `cwd` that must succeed: (its console output, its summary's data)."""
    result = in_process(*args, *SMOKE, "hydra.run.dir=run", cwd=cwd)
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.output, result.output
    return result.stdout, json.loads((cwd / "run" / "summary.json").read_text())["data"]


def image_folder(root: Path) -> Path:
    """Two classes of six 16x16 PNGs each, and a hidden folder of notebook checkpoints."""
    from PIL import Image

    for k, colour in enumerate(("red", "blue")):
        (root / colour).mkdir(parents=True)
        for i in range(6):
            pixels = np.zeros((16, 16, 3), np.uint8)
            pixels[..., 2 * k] = 200 + i
            Image.fromarray(pixels).save(root / colour / f"img{i}.png")
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "img0-checkpoint.png").write_bytes(b"not an image")
    return root


def text_folder(root: Path, empty: bool = False) -> Path:
    for label in ("neg", "pos"):
        (root / label).mkdir(parents=True)
        for i in range(6):
            (root / label / f"{i}.txt").write_text("" if empty else f"{label} review number {i}")
    return root


# -- hidden entries are skipped inside a dataset folder, never along the path to it ------

@pytest.mark.parametrize("in_memory", ["true", "false"])
def test_an_image_folder_given_by_a_relative_path_trains(tmp_path, in_memory):
    image_folder(tmp_path / "data" / "photos")
    (tmp_path / "work").mkdir()
    _, data = trained(tmp_path / "work", "dataset=image_dir", "dataset.path=../data/photos",
                      "dataset.image_size=[16,16]", f"dataset.in_memory={in_memory}")
    assert data["class_names"] == ["blue", "red"] and sum(data["sizes"].values()) == 12
    _, again = trained(tmp_path / "data", "dataset=image_dir", "dataset.path=./photos",
                       "dataset.image_size=[16,16]", f"dataset.in_memory={in_memory}")
    assert again["class_names"] == ["blue", "red"]


def test_a_text_folder_inside_a_hidden_folder_trains(tmp_path):
    folder = text_folder(tmp_path / ".cache" / "reviews")
    _, data = trained(tmp_path, "dataset=text_dir", f"dataset.path={folder}")
    assert data["class_names"] == ["neg", "pos"] and sum(data["sizes"].values()) == 12


# -- streams that hold nothing, or are cut short ------------------------------------------

FEATURES = "+dataset.features={x: {shape: [4], dtype: float32}, label: {dtype: int64}}"


def records(path: Path, count: int = 200) -> bytes:
    """`count` TFRecord examples (4 floats, a 0/1 label) written to `path`; their bytes."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(count):
            x = rng.normal(size=4).astype(np.float32)
            feature = {"x": tf.train.Feature(float_list=tf.train.FloatList(value=x)),
                       "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(x.sum() > 0)]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return path.read_bytes()


def tfrecord_run(cwd: Path, path: Path, *more: str):
    return in_process("dataset=tfrecord", f"dataset.path={path}", FEATURES, *more, *SMOKE, cwd=cwd)


RECORD = 61  # bytes a record of `records` takes (12 of header, 45 of data, 4 of checksum)
CUTS = {  # how the file is spoilt, and what the paragraph says of it
    "empty": (lambda raw: b"", ["is empty: no records to read"]),
    "cut-in-the-first-header": (lambda raw: raw[:5], ["cut short inside record 1's header (5 of its 12 bytes)"]),
    "cut-in-a-later-header": (lambda raw: raw[:100 * RECORD + 7], ["cut short inside record 101's header"]),
    "cut-in-a-record": (lambda raw: raw[:100 * RECORD + 30], ["cut short inside record 101 (it declares 45 bytes"]),
    "damaged": (lambda raw: raw[:50 * RECORD + 20] + bytes([raw[50 * RECORD + 20] ^ 0xFF]) + raw[50 * RECORD + 21:],
                ["record 51 is damaged or cut short", "corrupted record"]),
    "not-a-tfrecord": (lambda raw: b"a,b,label\n1,2,0\n3,4,1\n", ["is not a TFRecord file"]),
    "gzip-not-said": (lambda raw: __import__("gzip").compress(raw), ["is gzip-compressed", "dataset.compression=GZIP"]),
}


@pytest.mark.parametrize("cut", CUTS)
def test_a_tfrecord_file_empty_or_cut_is_named_with_its_record(tmp_path, cut):
    spoil, fragments = CUTS[cut]
    path = tmp_path / "data.tfrecord"
    path.write_bytes(spoil(records(path)))
    refused(tfrecord_run(tmp_path, path), tmp_path, [str(path), *fragments, "!KeyError", "!\\x00"])


def test_a_compressed_tfrecord_cut_short_names_the_record(tmp_path):
    import gzip

    path = tmp_path / "data.tfrecord.gz"
    raw = gzip.compress(records(tmp_path / "plain.tfrecord"))
    path.write_bytes(raw[:len(raw) // 2])
    result = tfrecord_run(tmp_path, path, "dataset.compression=GZIP")
    refused(result, tmp_path, [f"{path}, record ", "is damaged or cut short"])


def test_records_the_features_do_not_describe_are_named(tmp_path):
    path = tmp_path / "data.tfrecord"
    records(path)
    result = in_process("dataset=tfrecord", f"dataset.path={path}", FEATURES.replace("[4]", "[5]"),
                        *SMOKE, cwd=tmp_path)
    refused(result, tmp_path, [f"{path}, record 1 does not match dataset.features", "Key: x",
                               "!Iterator::", "![["])


def test_an_empty_shard_among_others_is_left_out_and_said(tmp_path):
    (tmp_path / "shards").mkdir()
    records(tmp_path / "shards" / "part-0.tfrecord")
    (tmp_path / "shards" / "part-1.tfrecord").write_bytes(b"")
    out, data = trained(tmp_path, "dataset=tfrecord", f"dataset.path={tmp_path / 'shards'}", FEATURES)
    assert "part-1.tfrecord is empty (0 bytes): left out" in out
    assert sum(data["sizes"].values()) == 200


def test_a_split_no_record_is_drawn_for_is_refused_with_the_counts(tmp_path):
    path = tmp_path / "three.tfrecord"
    records(path, count=3)
    refused(tfrecord_run(tmp_path, path), tmp_path,
            ["dataset.test_split=0.2", "the test split would hold none of the 3 examples",
             "(2 train / 1 val / 0 test)", "or 0 for none"])


@pytest.mark.parametrize("in_memory", ["true", "false"])
def test_a_csv_header_only_is_refused_naming_the_file(tmp_path, in_memory):
    path = tmp_path / "head.csv"
    path.write_text("a,b,label\n")
    result = in_process("dataset=csv", f"dataset.path={path}", "dataset.label=label",
                        f"dataset.in_memory={in_memory}", *SMOKE, cwd=tmp_path)
    message = refused(result, tmp_path, [str(path)])
    assert "no data rows" in message or "holds no example (no records, or a header row only)" in message


def gzip_csv(path: Path, spoil) -> Path:
    """A gzip CSV of 3,000 rows (a header, two numbers and a class), spoilt by `spoil`."""
    import gzip

    rng = np.random.default_rng(0)
    rows = "".join(f"{a:.4f},{b:.4f},{'ab'[int(a > b)]}\n" for a, b in rng.normal(size=(3000, 2)))
    raw = gzip.compress(("a,b,label\n" + rows).encode())
    path.write_bytes(spoil(raw))
    return path


GZIP_CUTS = {
    "cut": (lambda raw: raw[:len(raw) // 2], ["the gzip data is cut short after line", "the rest is lost"]),
    "damaged": (lambda raw: raw[:-6] + bytes([raw[-6] ^ 0xFF]) + raw[-5:],
                ["the gzip data is damaged: its checksum does not match"]),
}


@pytest.mark.parametrize("in_memory", ["true", "false"])
@pytest.mark.parametrize("spoilt", GZIP_CUTS)
def test_a_gzip_csv_cut_short_or_damaged_is_named(tmp_path, spoilt, in_memory):
    spoil, fragments = GZIP_CUTS[spoilt]
    path = gzip_csv(tmp_path / "rows.csv.gz", spoil)
    result = in_process("dataset=csv", f"dataset.path={path}", "dataset.label=label",
                        f"dataset.in_memory={in_memory}", *SMOKE, cwd=tmp_path)
    refused(result, tmp_path, [f"dataset.path={path}", *fragments, "gunzip -t", "!Error:"])


@pytest.mark.parametrize("rows", [3_000, 120_000])  # inside the head read first, or far past it
def test_a_streamed_csv_row_of_another_width_is_named_with_its_line(tmp_path, rows):
    path = tmp_path / "rows.csv"
    body = "".join(f"{i},{i % 7},{'ab'[i % 2]}\n" for i in range(rows))
    path.write_text("a,b,label\n" + body + f"{rows},4\n")  # cut inside its last row
    result = in_process("dataset=csv", f"dataset.path={path}", "dataset.label=label",
                        "dataset.in_memory=false", "dataset.val_split=0", "dataset.test_split=0",
                        *SMOKE, cwd=tmp_path)
    refused(result, tmp_path, [f"{path}, line {rows + 2:,}: 2 fields where the header has 3",
                               "a file cut short"])


def test_eval_of_a_run_whose_records_were_damaged_since_names_the_record(tmp_path):
    path = tmp_path / "data.tfrecord"
    raw = records(path)
    assert tfrecord_run(tmp_path, path, "hydra.run.dir=run").returncode == 0
    path.write_bytes(raw[:50 * RECORD + 20] + bytes([raw[50 * RECORD + 20] ^ 0xFF]) + raw[50 * RECORD + 21:])
    result = in_process(str(tmp_path / "run"), cwd=tmp_path, tool="tftrain-eval")
    assert_refused(result, 2, [f"{path}, record 51 is damaged or cut short"])
    assert not (tmp_path / "run" / "eval").exists()


# -- splits never silently vanish -----------------------------------------------------------

def test_classes_too_small_to_stratify_are_split_at_random_and_said(tmp_path):
    """A label unique to each row, taken as classes: stratified, no class gives validation
    or test a row (exit 0 with 0 val / 0 test rows before); drawn at random instead."""
    rng = np.random.default_rng(0)
    path = tmp_path / "ids.csv"
    path.write_text("a,b,id\n" + "".join(f"{a:.3f},{b:.3f},u{i}\n"
                                         for i, (a, b) in enumerate(rng.normal(size=(100, 2)))))
    out, data = trained(tmp_path, "dataset=csv", f"dataset.path={path}", "dataset.label=id",
                        "dataset.task=classification")
    assert "stratified by class, the validation and test splits would be empty" in out
    assert "100 classes of 1 rows" in out and "split at random instead: 70 train / 10 val / 20 test" in out
    assert data["sizes"] == {"train": 70, "val": 10, "test": 20}


def test_a_split_too_small_for_any_row_is_refused_with_the_counts(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("a,b,c\n" + "".join(f"{i},{i * 2},{'xy'[i % 2]}\n" for i in range(4)))
    result = in_process("dataset=csv", f"dataset.path={path}", "dataset.label=c", *SMOKE, cwd=tmp_path)
    message = refused(result, tmp_path, ["the validation split would hold none of the 4 examples",
                                         "give more data", "or 0 for none"])
    assert "dataset.val_split=0.1" in message


def test_splits_that_leave_training_nothing_are_refused(tmp_path):
    path = tmp_path / "three.tfrecord"
    records(path, count=3)
    result = tfrecord_run(tmp_path, path, "dataset.val_split=0.5", "dataset.test_split=0.49")
    refused(result, tmp_path, ["leave the training split none of the 3 examples",
                               "(0 train / 2 val / 1 test)", "lower them"])


# -- an empty input is named, not the model that cannot take it -----------------------------

@pytest.mark.parametrize("in_memory", ["true", "false"])
def test_a_csv_column_with_no_values_is_named(tmp_path, in_memory):
    rng = np.random.default_rng(0)
    path = tmp_path / "gap.csv"
    path.write_text("a,b,c,label\n" + "".join(f"{rng.normal():.3f},,{'xyz'[i % 3]},{i % 2}\n"
                                              for i in range(100)))
    result = in_process("dataset=csv", f"dataset.path={path}", "dataset.label=label",
                        f"dataset.in_memory={in_memory}", *SMOKE, cwd=tmp_path)
    refused(result, tmp_path, ["input 'b' (categorical) holds no value in the training split",
                               "dataset.drop=[b]", "!does not fit", "!empty vocabulary"])


def test_a_text_folder_of_empty_files_is_named(tmp_path):
    folder = text_folder(tmp_path / "texts", empty=True)
    result = in_process("dataset=text_dir", f"dataset.path={folder}", *SMOKE, cwd=tmp_path)
    refused(result, tmp_path, [f"dataset.path={folder}", "all 12 text files", "are empty",
                               "!does not fit", "!vocabulary"])
