"""The file types the core reads, by extension: the one list that uploads and readers share.

Imports nothing, so the REST API can check an upload's name without loading the readers.
"""

from __future__ import annotations

CSV_EXTENSIONS = frozenset({".csv", ".tsv", ".txt"})
EXCEL_EXTENSIONS = frozenset({".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"})
SPREADSHEET_EXTENSIONS = CSV_EXTENSIONS | EXCEL_EXTENSIONS
# Workbooks that are not zip archives (the others are): the old binary Excel format.
OLE2_EXTENSIONS = frozenset({".xls"})
