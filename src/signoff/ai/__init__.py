"""AI providers behind one Protocol and a registry."""
