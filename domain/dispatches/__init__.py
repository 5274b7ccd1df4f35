"""Dispatches (one push to one device): recording their status reports (``record``), searching
them (``search``) and a message's whole story (``timeline``)."""
