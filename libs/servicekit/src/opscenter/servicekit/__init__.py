"""Shared plumbing for Ops Center services: nothing here knows about plugins or tenants' data.

Layering: a service's endpoints and handlers may import servicekit; servicekit never imports a
service.
"""
