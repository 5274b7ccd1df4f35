"""Code both sides of Pushflow use: settings, database access, task formats, token rules."""
