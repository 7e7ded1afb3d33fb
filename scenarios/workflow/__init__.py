"""The ``workflow`` scenario: signed webhook -> condition -> email or event log -> CRM.

Flows are data (``load_flow("my.flow.yaml")``, see ``_flow.py`` and docs/workflow.md);
``deploy_flow`` puts one on a running system as five long-lived agents, and every side
effect goes through the runtime's effect record, so each happens once per event.
``spec.yaml`` is the bundled run (``raygent run workflow``) with its local peers.
"""

from __future__ import annotations

from scenarios.workflow._client import encode as encode
from scenarios.workflow._client import post as post
from scenarios.workflow._client import post_async as post_async
from scenarios.workflow._client import signed_headers as signed_headers
from scenarios.workflow._client import webhook_url as webhook_url
from scenarios.workflow._condition import ConditionAgent as ConditionAgent
from scenarios.workflow._connections import CrmConfig as CrmConfig
from scenarios.workflow._connections import DatabaseConfig as DatabaseConfig
from scenarios.workflow._connections import SmtpConfig as SmtpConfig
from scenarios.workflow._connections import WebhookConfig as WebhookConfig
from scenarios.workflow._crm import CRMAgent as CRMAgent
from scenarios.workflow._crm import CrmClient as CrmClient
from scenarios.workflow._crm_server import CrmServer as CrmServer
from scenarios.workflow._deploy import deploy_flow as deploy_flow
from scenarios.workflow._deploy import remove_flow as remove_flow
from scenarios.workflow._deploy import webhook_address as webhook_address
from scenarios.workflow._drive import drive as drive
from scenarios.workflow._drive import load_samples as load_samples
from scenarios.workflow._email import EmailAgent as EmailAgent
from scenarios.workflow._errors import ConditionError as ConditionError
from scenarios.workflow._errors import CRMError as CRMError
from scenarios.workflow._errors import EmailError as EmailError
from scenarios.workflow._errors import EventLogError as EventLogError
from scenarios.workflow._errors import SecretError as SecretError
from scenarios.workflow._errors import TemplateError as TemplateError
from scenarios.workflow._errors import WorkflowError as WorkflowError
from scenarios.workflow._eventlog import EventLog as EventLog
from scenarios.workflow._eventlog import EventLogAgent as EventLogAgent
from scenarios.workflow._expr import Condition as Condition
from scenarios.workflow._expr import compile_condition as compile_condition
from scenarios.workflow._flow import Flow as Flow
from scenarios.workflow._flow import Step as Step
from scenarios.workflow._flow import flow_from_config as flow_from_config
from scenarios.workflow._flow import load_flow as load_flow
from scenarios.workflow._flow import parse_flow as parse_flow
from scenarios.workflow._history import EventRecord as EventRecord
from scenarios.workflow._history import HistoryStore as HistoryStore
from scenarios.workflow._secrets import SecretRef as SecretRef
from scenarios.workflow._signature import SignatureError as SignatureError
from scenarios.workflow._signature import sign as sign
from scenarios.workflow._signature import verify as verify
from scenarios.workflow._smtp_sink import SmtpSink as SmtpSink
from scenarios.workflow._webhook import WebhookAgent as WebhookAgent
from scenarios.workflow.messages import StepRequest as StepRequest

__all__ = [
    "CRMAgent", "CRMError", "Condition", "ConditionAgent", "ConditionError", "CrmClient",
    "CrmConfig", "CrmServer", "DatabaseConfig", "EmailAgent", "EmailError", "EventLog",
    "EventLogAgent", "EventLogError", "EventRecord", "Flow", "HistoryStore", "SecretError",
    "SecretRef", "SignatureError", "SmtpConfig", "SmtpSink", "Step", "StepRequest",
    "TemplateError", "WebhookAgent", "WebhookConfig", "WorkflowError", "compile_condition",
    "deploy_flow", "drive", "encode", "flow_from_config", "load_flow", "load_samples",
    "parse_flow", "post", "post_async", "remove_flow", "sign", "signed_headers", "verify",
    "webhook_address", "webhook_url",
]
