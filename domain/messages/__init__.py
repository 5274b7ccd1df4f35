"""Messages (one push, to one or more devices): submitting one from anywhere (``submit``), the
token planning it uses (``plan``), the rows it writes (``rows``), idempotency keys
(``idempotency``), the outbox that publishes only what is committed (``outbox``), and cancelling
what is still scheduled (``cancel``)."""
