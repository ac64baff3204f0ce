"""Sphinx configuration: the embedding API's reference and guide.

Build (warnings are errors):  sphinx-build -W -b html docs build/docs
"""

project = "pyoci"
extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_inherit_docstrings = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
