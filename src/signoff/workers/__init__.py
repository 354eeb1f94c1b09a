"""Background loops: AI step workers, the outbox sender."""
