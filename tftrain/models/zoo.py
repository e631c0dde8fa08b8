"""Subclassed models shipped with tftrain: registered, so `.keras` files load in safe mode."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="tftrain")
class ResidualBlock(keras.layers.Layer):
    """x + Dense(Dropout(Dense(LayerNorm(x)))): a pre-norm residual MLP block."""

    def __init__(self, width: int, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.width, self.dropout = width, dropout
        self.norm = keras.layers.LayerNormalization()
        self.inner = keras.layers.Dense(width, activation="relu")
        self.drop = keras.layers.Dropout(dropout)
        self.outer = keras.layers.Dense(width)

    def call(self, inputs, training=False):
        return inputs + self.outer(self.drop(self.inner(self.norm(inputs)), training=training))

    def get_config(self):
        return {**super().get_config(), "width": self.width, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="tftrain")
class ResidualMLP(keras.Model):
    """Flatten, project to `width`, `blocks` residual blocks, then the output head."""

    def __init__(self, num_outputs: int, output_activation: str | None = None, width: int = 128,
                 blocks: int = 2, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.num_outputs, self.output_activation = num_outputs, output_activation
        self.width, self.blocks, self.dropout = width, blocks, dropout
        self.flatten = keras.layers.Flatten()
        self.project = keras.layers.Dense(width, activation="relu")
        self.residuals = [ResidualBlock(width, dropout) for _ in range(blocks)]
        self.head = keras.layers.Dense(num_outputs, activation=output_activation, dtype="float32")

    def call(self, inputs, training=False):
        hidden = self.project(self.flatten(inputs))
        for block in self.residuals:
            hidden = block(hidden, training=training)
        return self.head(hidden)

    def get_config(self):
        return {**super().get_config(), "num_outputs": self.num_outputs,
                "output_activation": self.output_activation, "width": self.width,
                "blocks": self.blocks, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="tftrain")
class ImageGAN(keras.Model):
    """A small DCGAN-style pair for small images: `generator` (noise -> image in [0, 1]) and
    `discriminator` (image -> real/fake logit). Calling the model runs the discriminator.

    Trained by `tftrain.trainers.GANStep` (see experiment=digits_gan): a step `fit` cannot
    express, which is what the custom loop's pluggable step is for.
    """

    trained_by = "tftrain.trainers.GANStep"  # checked before training (config.model.check_step)

    def __init__(self, input_shape: tuple[int, ...], latent_dim: int = 16, width: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.image_shape, self.latent_dim, self.width = tuple(input_shape), latent_dim, width
        # The generator's noise: a model variable, so checkpoints keep it and EpochSeeds
        # re-keys it per epoch (a resumed run draws the noise an uninterrupted one draws).
        self.noise = keras.random.SeedGenerator(latent_dim, name="noise")
        pixels = 1
        for size in self.image_shape:
            pixels *= size
        self.generator = keras.Sequential([
            keras.Input((latent_dim,)),
            keras.layers.Dense(width * 2, activation="relu"),
            keras.layers.Dense(width * 2, activation="relu"),
            keras.layers.Dense(pixels, activation="sigmoid", dtype="float32"),
            keras.layers.Reshape(self.image_shape),
        ], name="generator")
        self.discriminator = keras.Sequential([
            keras.Input(self.image_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(width * 2),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Dense(width),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Dense(1, dtype="float32"),
        ], name="discriminator")

    def call(self, images, training=False):
        return self.discriminator(images, training=training)

    def get_config(self):
        return {**super().get_config(), "input_shape": self.image_shape,
                "latent_dim": self.latent_dim, "width": self.width}


@keras.saving.register_keras_serializable(package="tftrain")
class SmallResNet(keras.Model):
    """Conv stem, then `stages` residual stages (two 3x3 convs and a skip; the width doubles
    and the resolution halves between stages), global pooling and the head."""

    def __init__(self, num_outputs: int, output_activation: str | None = None, filters: int = 32,
                 stages: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.num_outputs, self.output_activation = num_outputs, output_activation
        self.filters, self.stages = filters, stages
        self.stem = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")
        self.blocks = []
        for stage in range(stages):
            width = filters * 2 ** stage
            self.blocks.append([
                keras.layers.Conv2D(width, 3, padding="same", activation="relu"),
                keras.layers.Conv2D(width, 3, padding="same"),
                keras.layers.Conv2D(width, 1, padding="same"),  # the skip's projection
                keras.layers.MaxPooling2D(padding="same") if stage < stages - 1 else None,
            ])
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(num_outputs, activation=output_activation, dtype="float32")

    def call(self, inputs):
        hidden = self.stem(inputs)
        for first, second, skip, downsample in self.blocks:
            hidden = keras.ops.relu(second(first(hidden)) + skip(hidden))
            if downsample is not None:
                hidden = downsample(hidden)
        return self.head(self.pool(hidden))

    def get_config(self):
        return {**super().get_config(), "num_outputs": self.num_outputs,
                "output_activation": self.output_activation, "filters": self.filters,
                "stages": self.stages}
