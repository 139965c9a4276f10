"""The reference: the same flow as the product with nothing but what the flow needs, for `make bench`'s ratios.

Plain WSGI and ASGI callables on psycopg 3 and redis-py, no framework: no authentication, no audit,
no validation, no rate limits, no webhooks. What it keeps is what any implementation of the flow must
do, so that "product / reference" measures what the product's extra work costs:
  - the REST endpoints on the same WSGI server as the product (granian), sockets and the long poll
    on uvicorn, in the same processes and topology;
  - state in PostgreSQL (a database of its own): the creation is one INSERT; the decision re-reads the
    request under a row lock (SELECT ... FOR UPDATE), verifies the device's ES256 signature, updates;
  - the push to the device socket and the outcome to the long poll or RP socket over Redis pub/sub,
    so that they cross processes as the product's do.
It speaks the product's wire format where the load generator reads it (bench/loadgen.py drives both
unchanged): `POST /api/v1/approvals` -> 201 with the id (and the verification code), the device view
in `approval.created` on `/ws/v1/device`, the signed decision as tests/phone.py makes it, the status
in `GET /api/v1/approvals/{id}[?wait=N]` and on `/ws/v1/approvals/{id}`.
"""
