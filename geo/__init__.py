"""gridmap's spatial core: settings, database, registry models, geometry logic."""
