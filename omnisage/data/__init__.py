"""Input data: readers/writers for the data contracts, validation, real-data adapters (Home Depot, ESCI)."""
