"""``pushflow up``: the whole system in the foreground on one machine.

``embedded`` finds (or starts) Redis and PostgreSQL, ``procfile`` decides the processes and
renders them as a Procfile, ``bootstrap`` creates the demo app, key and sandbox credentials,
``runner`` ties them together under honcho, whose output ``printer`` keeps in JSON.
"""
