"""A module a hostile scenario names: importing it would flip the flag (it must not be)."""

import os

os.environ["RAYGENT_EVIL_IMPORTED"] = "1"


def drive(*_args: object, **_kwargs: object) -> None:
    return None
