"""One thin module per resource: parse the request, call a store or ``publish_validation``, shape the answer."""
