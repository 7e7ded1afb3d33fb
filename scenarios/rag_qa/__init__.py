"""The ``rag-qa`` scenario: question → hybrid search → LLM over the context → cited answer.

``spec.yaml`` wires the agents; ``data/`` holds the bundled documents and questions.
"""

from __future__ import annotations

from scenarios.rag_qa._rag import DATA_DIR as DATA_DIR
from scenarios.rag_qa._rag import DATA_QUESTIONS as DATA_QUESTIONS
from scenarios.rag_qa._rag import AnswererAgent as AnswererAgent
from scenarios.rag_qa._rag import RetrieverAgent as RetrieverAgent
from scenarios.rag_qa._rag import doc_of as doc_of
from scenarios.rag_qa._rag import drive as drive
from scenarios.rag_qa._rag import judge as judge
from scenarios.rag_qa._rag import load_questions as load_questions
from scenarios.rag_qa._rag import print_answer as print_answer
from scenarios.rag_qa.messages import Answer as Answer
from scenarios.rag_qa.messages import Compose as Compose
from scenarios.rag_qa.messages import Question as Question
from scenarios.rag_qa.messages import Source as Source
from scenarios.rag_qa.messages import StreamQuestion as StreamQuestion

__all__ = [
           "DATA_DIR",
           "DATA_QUESTIONS",
           "Answer",
           "AnswererAgent",
           "Compose",
           "Question",
           "RetrieverAgent",
           "Source",
           "StreamQuestion",
           "doc_of",
           "drive",
           "judge",
           "load_questions",
           "print_answer",
]
