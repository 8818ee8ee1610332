#!/usr/bin/env python3
"""Scrapes cosgate's /metrics as Prometheus does and parses it with the
official Python client's strict OpenMetrics parser: the body must be what
its Content-Type says, every family typed and with help text.

Usage: openmetrics_check.py METRICS_URL
"""
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families

url = sys.argv[1]
request = urllib.request.Request(url, headers={
    # What Prometheus sends by default.
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
              "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
})
with urllib.request.urlopen(request) as response:
    content_type = response.headers["Content-Type"]
    body = response.read().decode()
assert content_type.startswith("application/openmetrics-text; version=1.0.0"), content_type
families = {f.name: f for f in text_string_to_metric_families(body)}  # raises on any violation
for name in ("cosgate_requests", "cosgate_refusals", "cosgate_signatures"):
    family = families[name]
    assert family.type == "counter", (name, family.type)
    assert family.documentation, f"{name} has no help text"
untyped = [n for n, f in families.items() if f.type in ("unknown", "untyped")]
assert not untyped, untyped
samples = sum(len(f.samples) for f in families.values())
print(f"{len(families)} metric families, {samples} samples, parsed strictly as OpenMetrics 1.0 ({content_type})")
