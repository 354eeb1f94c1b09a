"""The demo workflow and its generated documents."""
