"""Public classes that inherit their parameters get an ``__init__`` named after them."""

import types


def own_init(cls):
    """Give ``cls`` a copy of its inherited ``__init__``, named ``cls.__init__``.

    scikit-learn reads the parameters from the signature, which stays the base's;
    Python names the function's ``__qualname__`` in argument errors, so a misspelled
    argument names the class the user called, not a private base. Called from the
    bases' ``__init_subclass__`` for every subclass that declares no ``__init__``.
    """
    if "__init__" in cls.__dict__:
        return
    init = super(cls, cls).__init__
    named = types.FunctionType(
        init.__code__, init.__globals__, "__init__", init.__defaults__, init.__closure__
    )
    named.__kwdefaults__ = init.__kwdefaults__
    named.__qualname__ = f"{cls.__qualname__}.__init__"
    named.__module__ = cls.__module__
    named.__doc__ = init.__doc__
    cls.__init__ = named
