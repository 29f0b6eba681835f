"""The web dashboard: server-rendered pages over the same services as the public API.

Pages are Jinja2 templates; htmx swaps the parts that change (the place-a-call form, the
calls list fed by server-sent events). :func:`voxline.dashboard.app.create_dashboard` builds
it; the API app mounts it at ``/dashboard``.
"""
