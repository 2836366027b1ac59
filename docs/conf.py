"""Sphinx configuration: MyST markdown pages (myst-nb), API from docstrings.

Build with ``pip install -e ".[docs]" && sphinx-build docs docs/_build``.
"""

project = "bayesrl"
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
nb_execution_mode = "off"
exclude_patterns = ["_build"]
html_theme = "furo"
