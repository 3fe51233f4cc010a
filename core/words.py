"""The store's fixed words: user roles and model tasks. Kept apart from core.store.tables so
that the CLI's parser can offer them without loading SQLModel."""

ROLES = ("manager", "domain_expert", "product_owner", "ml_engineer", "admin")
TASKS = ("binary", "regression")
