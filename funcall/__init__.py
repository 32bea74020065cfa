"""funcall: train LLMs to call functions well."""
