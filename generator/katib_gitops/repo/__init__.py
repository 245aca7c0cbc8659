"""The repository on disk: where things live, the settings and specs it holds, the render record, locks, safe
writes, and what a rendered tree deploys.
"""
