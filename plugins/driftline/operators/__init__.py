"""One operator per pipeline step. Heavy libraries are imported inside `execute` only."""
