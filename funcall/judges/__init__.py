"""LLM judges: backends behind one async Protocol, reply parsing, an on-disk cache.

  base            ChatRequest, Completion, the `Judge` Protocol, JudgeError / JudgeUnavailable, JudgeStats
  openai_judge    OpenAIJudge: any OpenAI-compatible chat-completions server (vLLM, SGLang, hosted)
  local_judge     TransformersJudge: a local Hugging Face model, requests gathered into batches
  cache           ReplyCache (SQLite, safe to kill) and CachedJudge
  replies         parse_verdict / parse_score / parse_reasoning: read untrusted replies, never raise
  ask             ask(): retry unreadable replies, report failures as values
  background      BackgroundLoop: run judge coroutines from synchronous code (the RL reward)
  scripted_server ChatServer: a loopback chat-completions server with scripted replies (tests, demos)

Backends are built from `conf/judge/*.yaml` (`judge=openai | transformers`). Nothing here imports
torch until the transformers backend generates.
"""

from funcall.judges.ask import Answer, ask
from funcall.judges.base import (
    ChatRequest,
    Completion,
    Judge,
    JudgeError,
    JudgeStats,
    JudgeUnavailable,
)
from funcall.judges.cache import CachedJudge, ReplyCache

__all__ = ["Answer", "CachedJudge", "ChatRequest", "Completion", "Judge", "JudgeError", "JudgeStats",
           "JudgeUnavailable", "ReplyCache", "ask"]
