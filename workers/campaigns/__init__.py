"""The campaign pacer (``pushflow pacer``): feeds the bulk lanes from the ledger in PostgreSQL."""
