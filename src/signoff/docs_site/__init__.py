"""Generated pages of the documentation site: workflow and REST references, figures.

`python -m signoff.docs_site` writes them into docs/; `--check` fails when a page is stale.
"""
