"""Repositories: the only code that writes SQL, one module per aggregate."""
