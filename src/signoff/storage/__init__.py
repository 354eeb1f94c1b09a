"""SQL behind one seam: tables, queries per table, claims, migrations. Never commits."""
