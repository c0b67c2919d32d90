"""Tasks: GLUE-style datasets, their metrics, and the split rules that keep selection and
reporting apart."""
