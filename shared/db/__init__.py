"""PostgreSQL access: connection helpers, versioned migrations, and the app/key records."""
