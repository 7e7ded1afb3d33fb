"""Errors of streamed replies (``Runtime.stream``), kept beside the main tree in
``actors/_errors.py``::

    RaygentError
    └── StreamError                 a stream of partial results could not go on
        ├── StreamCancelledError    the consumer stopped reading (seen by the producer)
        └── StreamLostError         the producer or the supervisor died mid-stream

Each survives a pickle round trip (the base records its constructor's arguments).
"""

from __future__ import annotations

from actors._errors import RaygentError


class StreamError(RaygentError):
    """A stream of partial results could not go on."""

    retryable = False


class StreamCancelledError(StreamError):
    def __init__(self, stream_id: str, reason: str = "the consumer closed the stream") -> None:
        super().__init__(f"stream {stream_id!r} was cancelled ({reason}): stop producing; "
                         "this is the normal end when a reader breaks out early")
        self.stream_id = stream_id
        self.reason = reason


class StreamLostError(StreamError):
    def __init__(self, stream_id: str, reason: str) -> None:
        super().__init__(f"stream {stream_id!r} was lost ({reason}): the chunks read so far "
                         "are all there is; ask again once the agent runs again")
        self.stream_id = stream_id
        self.reason = reason
