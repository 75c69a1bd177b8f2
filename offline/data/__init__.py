"""Input data, read once into typed values: QADSM query–ad pairs, ad catalogs, the unlabelled pool, and the
project's made-up sample catalog. Errors name the file, row and column."""
