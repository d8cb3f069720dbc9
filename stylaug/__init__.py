__version__ = "0.1.0"

from stylaug.artifacts.dataset_names import register as _register_dataset_names
from stylaug.artifacts.style_families import register as _register_resolvers

_register_resolvers()
_register_dataset_names()
