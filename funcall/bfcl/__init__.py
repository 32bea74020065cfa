"""BFCL single-turn evaluation: decode model text, check it against the ground truth, score.

`check(category, functions, possible_answer, decoded_output) -> Verdict` gives the official
checker's verdict; `decode_text(text, category)` decodes prompting-model text as BFCL does;
`load_category(data_dir, category)` reads BFCL's files; `summarize(per_category)` aggregates.
Importing this package loads only the standard library (no torch, transformers or numpy).
"""

from funcall.bfcl.checker import SINGLE_TURN_CATEGORIES, Verdict, check
from funcall.bfcl.data import Entry, load_category
from funcall.bfcl.decode import decode_text
from funcall.bfcl.scores import summarize

__all__ = ["SINGLE_TURN_CATEGORIES", "Entry", "Verdict", "check", "decode_text", "load_category", "summarize"]
