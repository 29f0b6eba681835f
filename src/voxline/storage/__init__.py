"""Persistence: SQLAlchemy tables, the database handle and the migrations."""
