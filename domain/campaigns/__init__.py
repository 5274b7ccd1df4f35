"""Campaigns: bulk sends paced from PostgreSQL. ``content`` (a push's fields per language, with a
fallback chain), ``store`` (campaign rows and their actions), ``audience`` (uploaded token lists
streamed with COPY, or registered devices), ``plan`` (the launch plan), ``pacing`` (one pacer
step: the next recipients at the campaign's rate through ``domain.messages.submit``),
``progress`` (the ledger's counts, canary verdicts and the end of a campaign)."""
