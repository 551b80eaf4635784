"""Import of survey files: read a layer, map its columns, validate it into a report."""
