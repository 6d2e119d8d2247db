"""Reports: figures, Markdown and HTML of an already computed Study."""
