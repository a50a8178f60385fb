"""Tell a malformed call, which never reached the guarded function, from its errors."""


def never_ran(error: BaseException) -> bool:
    """Return whether ``error`` was raised by making the call rather than by the callee.

    That is a TypeError raised in the very frame that called (the callee is not
    callable, or the arguments do not bind to its parameters): its traceback holds
    that frame alone, no frame of the callee's. Such a call says nothing about the
    dependency, so it is not counted, and gives back any permit it took.

    Call this from the ``except`` clause of the frame that made the call.
    """
    if not isinstance(error, TypeError):
        return False
    traceback = error.__traceback__
    return traceback is not None and traceback.tb_next is None
