"""Tell a malformed call, which never reached the guarded function, from its errors."""

import os

# The modules whose frames a call passes through on its way to the guarded function:
# the calling forms of both cores and of shared breakers. The compiled core's frames
# are Cython's, named after its .pyx source.
_CALL_PATH = frozenset({"_core_py.py", "_core_c.pyx", "_shared.py", "_async.py", "_generators.py"})
_PACKAGE = os.path.basename(os.path.dirname(os.path.abspath(__file__)))


def never_ran(error: BaseException) -> bool:
    """Return whether ``error`` was raised by making the call rather than by the callee.

    That is a TypeError (the callee is not callable, or the arguments do not bind to its
    parameters) whose traceback holds no frame but the breakers' own: the callee's code
    never ran. Breakers nested in one another agree, whichever core each has. Such a
    call says nothing about the dependency, so it is not counted, and gives back any
    permit it took.

    Call this from the ``except`` clause of the frame that made the call.
    """
    if not isinstance(error, TypeError):
        return False
    traceback = error.__traceback__
    while traceback is not None:
        path = traceback.tb_frame.f_code.co_filename
        if (os.path.basename(path) not in _CALL_PATH
                or os.path.basename(os.path.dirname(path)) != _PACKAGE):
            return False
        traceback = traceback.tb_next
    return True
