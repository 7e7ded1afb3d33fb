"""raygent's memory layer: hybrid (vector + BM25) search over records persisted in LanceDB.

Plain Python, no Ray: :class:`MemoryService` is the thread-safe object the memory agent wraps.

Example::

    from memory import MemoryConfig, MemoryService

    with MemoryService(MemoryConfig(data_dir="/tmp/mem")) as mem:
        mem.add([{"id": "n1", "text": "Ray actors process one message at a time"}])
        hits = mem.search("how do actors handle messages?", k=3)
"""

from __future__ import annotations

from memory._agent import MemoryAgent as MemoryAgent
from memory._agent import memory_config_from as memory_config_from
from memory._bm25 import BM25Index as BM25Index
from memory._chunk import chunk_text as chunk_text
from memory._config import DEFAULT_MODEL as DEFAULT_MODEL
from memory._config import BM25Config as BM25Config
from memory._config import MemoryConfig as MemoryConfig
from memory._config import RerankConfig as RerankConfig
from memory._config import TokenizerConfig as TokenizerConfig
from memory._config import default_data_dir as default_data_dir
from memory._embedder import Embed as Embed
from memory._embedder import Embedder as Embedder
from memory._embedder import encoder_for as encoder_for
from memory._embedder import shared_embedder as shared_embedder
from memory._eval import Metrics as Metrics
from memory._eval import evaluate as evaluate
from memory._eval import ndcg_at_k as ndcg_at_k
from memory._eval import recall_at_k as recall_at_k
from memory._eval import reciprocal_rank as reciprocal_rank
from memory._fusion import DEFAULT_FUSION as DEFAULT_FUSION
from memory._fusion import RRF as RRF
from memory._fusion import FusionStrategy as FusionStrategy
from memory._fusion import WeightedFusion as WeightedFusion
from memory._fusion import default_fusion as default_fusion
from memory._fusion import fusion_from as fusion_from
from memory._loaders import load_documents as load_documents
from memory._protocol import MemoryStore as MemoryStore
from memory._records import Hit as Hit
from memory._records import Record as Record
from memory._rerank import CrossEncoderReranker as CrossEncoderReranker
from memory._rerank import Reranker as Reranker
from memory._service import MemoryService as MemoryService
from memory._store import HybridStore as HybridStore
from memory._tokenize import Tokenizer as Tokenizer
from memory._tokenize import light_stem as light_stem
from memory.evalset import EvalSet as EvalSet
from memory.evalset import load_eval_set as load_eval_set
from memory.messages import Recall as Recall
from memory.messages import Remember as Remember

__all__ = [
    "DEFAULT_FUSION",
    "DEFAULT_MODEL",
    "RRF",
    "BM25Config",
    "BM25Index",
    "CrossEncoderReranker",
    "Embed",
    "Embedder",
    "EvalSet",
    "FusionStrategy",
    "Hit",
    "HybridStore",
    "MemoryAgent",
    "MemoryConfig",
    "MemoryService",
    "MemoryStore",
    "Metrics",
    "Recall",
    "Record",
    "Remember",
    "RerankConfig",
    "Reranker",
    "Tokenizer",
    "TokenizerConfig",
    "WeightedFusion",
    "chunk_text",
    "default_data_dir",
    "default_fusion",
    "encoder_for",
    "evaluate",
    "fusion_from",
    "light_stem",
    "load_documents",
    "load_eval_set",
    "memory_config_from",
    "ndcg_at_k",
    "recall_at_k",
    "reciprocal_rank",
    "shared_embedder",
]
