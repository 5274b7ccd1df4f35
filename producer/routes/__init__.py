"""The API routes, one module per area; ``producer.app`` collects each module's ``routes``."""
