"""Train the AdaIN decoder of one scenario training set."""

from stylaug.train_decoder.stage import train_decoder

__all__ = ["train_decoder"]
