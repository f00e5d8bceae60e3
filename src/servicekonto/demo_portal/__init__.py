"""The demo portal of the fictional city of Musterstadt: an OpenID Connect relying party that logs citizens
in with Servicekonto and pre-fills an application for a resident parking permit (Bewohnerparkausweis).

It is a separate site and the example portal developers copy from: it uses Authlib and Starlette only, never
Servicekonto's own code. `python -m servicekonto.demo_portal` serves it; `servicekonto demo` registers it.
"""
