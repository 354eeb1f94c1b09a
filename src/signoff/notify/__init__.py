"""Delivery channels behind one Protocol and a registry."""
