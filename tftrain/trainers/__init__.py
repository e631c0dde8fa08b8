"""Trainers: given a compiled model, the data and the callbacks, train. They build nothing."""

from tftrain.trainers.base import Trainer
from tftrain.trainers.custom_loop import CustomLoopTrainer
from tftrain.trainers.fit import FitTrainer
from tftrain.trainers.steps import GANStep, SupervisedStep

__all__ = ["CustomLoopTrainer", "FitTrainer", "GANStep", "SupervisedStep", "Trainer"]
