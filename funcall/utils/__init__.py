"""Small shared helpers: building objects from config, errors users can read, seeding."""
