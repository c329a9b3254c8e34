"""Test bed of real engines for odooops.hosting.

Starts what the tests and the demo need -- a Docker engine, simulated VM hosts (containers from a
registry-free Debian image), PostgreSQL clusters on free ports, Redis, moto's S3 server, stunnel --
and stops exactly what it started, by PID. Not part of the shipped collection (galaxy build_ignore).
"""
