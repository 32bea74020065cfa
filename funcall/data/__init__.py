"""Examples, the sources that produce them, and their tokenisation with span masks."""
from funcall.data.schema import Example

__all__ = ["Example"]
