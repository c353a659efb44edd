"""The dnnsec model zoo: data loaders, registered architectures, and the cached seeded set of trained models."""

from dnnsec.zoo.build import ZOO, build_zoo, load_zoo_model, zoo_path
from dnnsec.zoo.data import DataError, ImageSet, load_cifar10, load_dataset, load_mnist
from dnnsec.zoo.models import CifarResNet, MnistCNN

__all__ = ["ZOO", "CifarResNet", "DataError", "ImageSet", "MnistCNN", "build_zoo", "load_cifar10",
           "load_dataset", "load_mnist", "load_zoo_model", "zoo_path"]
