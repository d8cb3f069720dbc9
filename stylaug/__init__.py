__version__ = "0.1.0"

from stylaug.config_resolvers import register as _register_resolvers

_register_resolvers()
