"""raygent's actor runtime: agents, messages, the supervisor and the Runtime facade."""

import logging

from actors._agent import Agent as Agent
from actors._agent import handles as handles
from actors._config import MailboxConfig as MailboxConfig
from actors._config import Resources as Resources
from actors._config import RestartPolicy as RestartPolicy
from actors._config import RetryPolicy as RetryPolicy
from actors._config import RuntimeConfig as RuntimeConfig
from actors._envelope import Envelope as Envelope
from actors._envelope import MessageContext as MessageContext
from actors._errors import AgentError as AgentError
from actors._errors import AgentExistsError as AgentExistsError
from actors._errors import AgentFailedError as AgentFailedError
from actors._errors import AgentNotFoundError as AgentNotFoundError
from actors._errors import AgentUnavailableError as AgentUnavailableError
from actors._errors import AskTimeoutError as AskTimeoutError
from actors._errors import ConfigError as ConfigError
from actors._errors import DeliveryError as DeliveryError
from actors._errors import HandlerError as HandlerError
from actors._errors import MailboxFullError as MailboxFullError
from actors._errors import MessageError as MessageError
from actors._errors import MessageTooLargeError as MessageTooLargeError
from actors._errors import NotSerializableError as NotSerializableError
from actors._errors import PayloadTypeError as PayloadTypeError
from actors._errors import RaygentError as RaygentError
from actors._errors import RuntimeNotStartedError as RuntimeNotStartedError
from actors._errors import UnknownKindError as UnknownKindError
from actors._errors import UnknownRecipientError as UnknownRecipientError
from actors._host import AgentHost as AgentHost
from actors._ids import new_id as new_id
from actors._memory_client import MemoryClient as MemoryClient
from actors._registry import message as message
from actors._registry import register_message as register_message
from actors._runtime import Runtime as Runtime
from actors._spec import AgentSpec as AgentSpec
from actors._status import AgentStatus as AgentStatus
from actors._status import DeadLetter as DeadLetter
from actors._status import SystemStatus as SystemStatus
from actors._supervisor import SupervisorCore as SupervisorCore

logging.getLogger("raygent").addHandler(logging.NullHandler())

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
    "AskTimeoutError",
    "ConfigError",
    "DeadLetter",
    "DeliveryError",
    "Envelope",
    "HandlerError",
    "MailboxConfig",
    "MailboxFullError",
    "MemoryClient",
    "MessageContext",
    "MessageError",
    "MessageTooLargeError",
    "NotSerializableError",
    "PayloadTypeError",
    "RaygentError",
    "Resources",
    "RestartPolicy",
    "RetryPolicy",
    "Runtime",
    "RuntimeConfig",
    "RuntimeNotStartedError",
    "SupervisorCore",
    "SystemStatus",
    "UnknownKindError",
    "UnknownRecipientError",
    "handles",
    "message",
    "new_id",
    "register_message",
]
