"""One error rule that cannot blame the user for our bugs (README, Errors).

Bad input stays one paragraph with exit 2. A bug of ours keeps its traceback even where it
surfaces through a library, as TensorFlow raises a failure inside a tf.data function (the
old rule, which blamed the input whenever the innermost frame was a library's, called a bug
planted there a damaged image). A failure raised in the user's own code is shown with its
traceback and said to be theirs. TFTRAIN_FULL_ERROR=1 shows the traceback of either; Keras'
and TensorFlow's own traceback filtering stays on outside the doors.

The planted bug replaces one of tftrain's own functions (not TensorFlow's) for the test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import assert_refused, in_process

OWN_MODEL = '''
import keras

class Fussy(keras.Model):
    """A user's model whose own code refuses what it is given."""

    def __init__(self, num_outputs, **kwargs):
        super().__init__(**kwargs)
        self.out = keras.layers.Dense(num_outputs, activation="softmax")

    def call(self, x):
        raise ValueError("my model wants something else")
'''


def image_folder(root: Path) -> Path:
    import PIL.Image

    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (root / "photos" / name).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 255, (10, 10, 3), dtype=np.uint8)
            PIL.Image.fromarray(pixels).save(root / "photos" / name / f"{i}.png")
    return root / "photos"


@pytest.fixture
def planted(monkeypatch):
    """A bug in tftrain's image reading, which runs inside a tf.data function."""
    import tensorflow as tf

    from tftrain.data import images

    def broken(image, channels):
        check = tf.debugging.assert_equal(tf.constant(0), tf.constant(1), message="planted bug")
        with tf.control_dependencies([check]):
            return tf.identity(image)

    monkeypatch.setattr(images, "in_channels", broken)


@pytest.mark.parametrize("in_memory", ["true", "false"])
def test_a_bug_inside_a_tf_data_function_keeps_its_traceback(tmp_path, planted, in_memory):
    photos = image_folder(tmp_path)
    result = in_process("debug=smoke", "dataset=image_dir", f"dataset.path={photos}",
                        "dataset.image_size=[8,8]", f"dataset.in_memory={in_memory}",
                        "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 1, result.output
    assert "Traceback" in result.stderr and "planted bug" in result.stderr
    assert "is not an image" not in result.stderr and "remove or replace it" not in result.stderr


def test_bad_input_is_still_one_paragraph_and_full_error_shows_its_traceback(tmp_path):
    args = ("debug=smoke", "model.layers.1.units=-1", "hydra.run.dir=run")
    plain = in_process(*args, cwd=tmp_path)
    assert_refused(plain, 2, ["model.layers.1", "units"])
    full = in_process(*args, cwd=tmp_path, env={"TFTRAIN_FULL_ERROR": "1"})
    assert full.returncode == 2 and "Traceback" in full.stderr, full.output
    assert full.stderr.rstrip().splitlines()[-1].startswith("tftrain: error: model.layers.1")


def test_a_failure_in_the_users_own_code_shows_its_traceback_said_to_be_theirs(tmp_path):
    (tmp_path / "fussy.py").write_text(OWN_MODEL)
    result = in_process("debug=smoke", "~model", "+model={_target_: fussy.Fussy}",
                        "allow_targets=[fussy]", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 1, result.output
    assert "Traceback" in result.stderr and "my model wants something else" in result.stderr
    assert f"raised in your own code, {tmp_path / 'fussy.py'}" in result.stderr


def test_keras_and_tensorflow_filter_their_tracebacks_outside_the_doors(tmp_path):
    import keras
    import tensorflow as tf

    result = in_process("debug=smoke", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.output
    assert keras.config.is_traceback_filtering_enabled()
    assert tf.debugging.is_traceback_filtering_enabled()
