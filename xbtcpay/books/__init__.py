"""The books: every money movement of a period as CSV rows or a beancount journal.

``movements`` reads the period from the modules that own each table, ``accounts`` turns a
movement into balanced postings, ``csv_text`` and ``beancount_text`` write them, and
``service.register`` plugs ``export.journal`` into a daemon. docs/books.md is the manual.
"""
