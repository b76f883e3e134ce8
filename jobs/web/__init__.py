"""The web companion (`[web]`): one-click ratings, tracking and unsubscribe from the digest, each
reader's pages (archive, search, ratings, tracked papers, watches) and the admin's run health.

`links` makes the signed links of a digest (no web framework needed: `litwatch run` imports it);
`app` is the Starlette application; `server` runs it with uvicorn, alone (`litwatch web`) or
beside the scheduler (`litwatch serve`).
"""
