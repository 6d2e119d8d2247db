"""Plot helpers: ``ax``-first, one module per figure family, and figure saving."""
