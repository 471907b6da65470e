"""The Elasticsearch-compatible API: DSL translation, aggregations, errors."""
