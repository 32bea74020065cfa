"""The function docs as BFCL shows them to a prompting model: `language_notes`, re-exported.

The code lives in `funcall.data.bfcl_language_notes` (one implementation for the BFCL evaluations
and the ``data=bfcl_format_sensitivity`` training prompts, which sit in the data layer below this
one); this module keeps the evaluations' import path.
"""
from funcall.data.bfcl_language_notes import LANGUAGE_NOTE, language_notes

__all__ = ["LANGUAGE_NOTE", "language_notes"]
