"""The REST API: an OpenStack Compute v2.1 compatible WSGI application.

`deploy.build_app()` assembles it; `wsgi.application` and `wsgi.serve()` run it.
"""
