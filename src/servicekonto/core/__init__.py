"""Framework-free helpers every layer may use: errors, clock, ids, crypto, i18n, logging."""
