"""Test helpers shipped with signoff so users can test their workflows too."""
