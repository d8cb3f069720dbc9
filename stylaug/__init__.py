__version__ = "0.1.0"

from stylaug.artifacts.style_families import register as _register_resolvers

_register_resolvers()
