"""BFCL single-turn evaluation: decode model text, check it against the ground truth, score.

`check(category, functions, possible_answer, decoded_output) -> Verdict` gives the official
checker's verdict; `decode_text(text, category)` decodes prompting-model text. Importing this
package loads only the standard library (no torch, transformers or numpy).
"""

from funcall.bfcl.checker import SINGLE_TURN_CATEGORIES, Verdict, check

__all__ = ["SINGLE_TURN_CATEGORIES", "Verdict", "check"]
