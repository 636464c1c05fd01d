"""One module per kind of page: the index, the regressions list and feed, the machines
page, benchmark pages, commit pages and the static files; each writes through a
``PageWriter``."""
