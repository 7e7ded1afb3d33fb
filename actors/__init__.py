"""raygent's actor runtime: agents, messages, the supervisor and the Runtime facade.

Names are loaded on first use, so importing one light piece (an error class, the Agent
base) does not pull in Ray and the whole runtime: ``memory``'s store code relies on that.
"""

from __future__ import annotations

import importlib
import logging
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actors._agent import Agent as Agent
    from actors._agent import handles as handles
    from actors._agent import service as service
    from actors._approval import Approval as Approval
    from actors._approval import PendingApproval as PendingApproval
    from actors._approval_errors import ApprovalConflictError as ApprovalConflictError
    from actors._approval_errors import ApprovalError as ApprovalError
    from actors._approval_errors import ApprovalExpiredError as ApprovalExpiredError
    from actors._approval_errors import ApprovalNotFoundError as ApprovalNotFoundError
    from actors._config import JournalConfig as JournalConfig
    from actors._config import MailboxConfig as MailboxConfig
    from actors._config import Resources as Resources
    from actors._config import RestartPolicy as RestartPolicy
    from actors._config import RetryPolicy as RetryPolicy
    from actors._config import RuntimeConfig as RuntimeConfig
    from actors._config import TracingConfig as TracingConfig
    from actors._envelope import Envelope as Envelope
    from actors._envelope import MessageContext as MessageContext
    from actors._errors import AgentError as AgentError
    from actors._errors import AgentExistsError as AgentExistsError
    from actors._errors import AgentFailedError as AgentFailedError
    from actors._errors import AgentNotFoundError as AgentNotFoundError
    from actors._errors import AgentStoppedError as AgentStoppedError
    from actors._errors import AgentUnavailableError as AgentUnavailableError
    from actors._errors import AskTimeoutError as AskTimeoutError
    from actors._errors import ConfigError as ConfigError
    from actors._errors import DeliveryError as DeliveryError
    from actors._errors import ForgedSenderError as ForgedSenderError
    from actors._errors import HandlerError as HandlerError
    from actors._errors import HandlerTimeoutError as HandlerTimeoutError
    from actors._errors import JournalError as JournalError
    from actors._errors import MailboxFullError as MailboxFullError
    from actors._errors import MessageError as MessageError
    from actors._errors import MessageTooLargeError as MessageTooLargeError
    from actors._errors import NotAServiceError as NotAServiceError
    from actors._errors import NotSerializableError as NotSerializableError
    from actors._errors import PathNotAllowedError as PathNotAllowedError
    from actors._errors import PayloadTypeError as PayloadTypeError
    from actors._errors import RaygentError as RaygentError
    from actors._errors import RuntimeNotStartedError as RuntimeNotStartedError
    from actors._errors import SecurityError as SecurityError
    from actors._errors import ShutdownError as ShutdownError
    from actors._errors import SupervisorUnavailableError as SupervisorUnavailableError
    from actors._errors import UnknownKindError as UnknownKindError
    from actors._errors import UnknownRecipientError as UnknownRecipientError
    from actors._errors import UntrustedModuleError as UntrustedModuleError
    from actors._host import AgentHost as AgentHost
    from actors._ids import new_id as new_id
    from actors._memory_client import MemoryClient as MemoryClient
    from actors._registry import message as message
    from actors._registry import register_message as register_message
    from actors._runtime import Runtime as Runtime
    from actors._secrets import Secret as Secret
    from actors._secrets import secret as secret
    from actors._shipping import code_runtime_env as code_runtime_env
    from actors._spec import AgentSpec as AgentSpec
    from actors._status import AgentStatus as AgentStatus
    from actors._status import DeadLetter as DeadLetter
    from actors._status import SystemStatus as SystemStatus
    from actors._stream_errors import StreamCancelledError as StreamCancelledError
    from actors._stream_errors import StreamError as StreamError
    from actors._stream_errors import StreamLostError as StreamLostError
    from actors._supervisor import SupervisorCore as SupervisorCore

_EXPORTS: dict[str, str] = {
    "StreamCancelledError": "actors._stream_errors",
    "StreamError": "actors._stream_errors",
    "StreamLostError": "actors._stream_errors",
    "code_runtime_env": "actors._shipping",
    "Agent": "actors._agent",
    "handles": "actors._agent",
    "service": "actors._agent",
    "Approval": "actors._approval",
    "PendingApproval": "actors._approval",
    "ApprovalError": "actors._approval_errors",
    "ApprovalConflictError": "actors._approval_errors",
    "ApprovalExpiredError": "actors._approval_errors",
    "ApprovalNotFoundError": "actors._approval_errors",
    "Secret": "actors._secrets",
    "secret": "actors._secrets",
    "MailboxConfig": "actors._config",
    "Resources": "actors._config",
    "RestartPolicy": "actors._config",
    "RetryPolicy": "actors._config",
    "RuntimeConfig": "actors._config",
    "JournalConfig": "actors._config",
    "TracingConfig": "actors._config",
    "Envelope": "actors._envelope",
    "MessageContext": "actors._envelope",
    "AgentError": "actors._errors",
    "AgentExistsError": "actors._errors",
    "AgentFailedError": "actors._errors",
    "AgentNotFoundError": "actors._errors",
    "AgentUnavailableError": "actors._errors",
    "AskTimeoutError": "actors._errors",
    "ConfigError": "actors._errors",
    "DeliveryError": "actors._errors",
    "HandlerError": "actors._errors",
    "MailboxFullError": "actors._errors",
    "MessageError": "actors._errors",
    "MessageTooLargeError": "actors._errors",
    "NotSerializableError": "actors._errors",
    "PayloadTypeError": "actors._errors",
    "RaygentError": "actors._errors",
    "RuntimeNotStartedError": "actors._errors",
    "UnknownKindError": "actors._errors",
    "UnknownRecipientError": "actors._errors",
    "ShutdownError": "actors._errors",
    "JournalError": "actors._errors",
    "AgentStoppedError": "actors._errors",
    "SupervisorUnavailableError": "actors._errors",
    "UntrustedModuleError": "actors._errors",
    "SecurityError": "actors._errors",
    "PathNotAllowedError": "actors._errors",
    "NotAServiceError": "actors._errors",
    "HandlerTimeoutError": "actors._errors",
    "ForgedSenderError": "actors._errors",
    "AgentHost": "actors._host",
    "new_id": "actors._ids",
    "MemoryClient": "actors._memory_client",
    "message": "actors._registry",
    "register_message": "actors._registry",
    "Runtime": "actors._runtime",
    "AgentSpec": "actors._spec",
    "AgentStatus": "actors._status",
    "DeadLetter": "actors._status",
    "SystemStatus": "actors._status",
    "SupervisorCore": "actors._supervisor",
}

logging.getLogger("raygent").addHandler(logging.NullHandler())


# Names that moved to ``actors.llm``: still importable from here, with a warning.
_MOVED: dict[str, str] = {name: "actors.llm" for name in (
    "ChatMessage", "Citation", "Complete", "Completion", "ExtractiveBackend",
    "ExtractiveConfig", "LLMAgent", "LLMBackend", "LLMConnectionError", "LLMError",
    "LLMHTTPError", "LLMRequestError", "LLMResponseError", "LLMTimeoutError",
    "OpenAIBackend", "OpenAIConfig", "Usage", "backend_from_config", "rag_messages")}


def __getattr__(name: str) -> Any:
    moved = _MOVED.get(name)
    if moved is not None:
        warnings.warn(f"actors.{name} moved to {moved}.{name}: import it from {moved}",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(moved), name)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'actors' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Agent",
    "AgentError",
    "AgentExistsError",
    "AgentFailedError",
    "AgentHost",
    "AgentNotFoundError",
    "AgentSpec",
    "AgentStatus",
    "AgentUnavailableError",
    "Approval",
    "ApprovalConflictError",
    "ApprovalError",
    "ApprovalExpiredError",
    "ApprovalNotFoundError",
    "AskTimeoutError",
    "ConfigError",
    "DeadLetter",
    "DeliveryError",
    "Envelope",
    "ForgedSenderError",
    "HandlerError",
    "JournalConfig",
    "MailboxConfig",
    "MailboxFullError",
    "MemoryClient",
    "MessageContext",
    "MessageError",
    "MessageTooLargeError",
    "NotSerializableError",
    "PayloadTypeError",
    "PendingApproval",
    "RaygentError",
    "Resources",
    "RestartPolicy",
    "RetryPolicy",
    "Runtime",
    "RuntimeConfig",
    "RuntimeNotStartedError",
    "Secret",
    "StreamCancelledError",
    "StreamError",
    "StreamLostError",
    "SupervisorCore",
    "SystemStatus",
    "TracingConfig",
    "UnknownKindError",
    "UnknownRecipientError",
    "code_runtime_env",
    "handles",
    "message",
    "new_id",
    "register_message",
    "secret",
    "service",
]
