"""Input data: readers/writers for the data contracts, validation, the synthetic world, real-data adapters."""
