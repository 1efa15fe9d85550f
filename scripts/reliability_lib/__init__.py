"""The fault-injection harness behind `make reliability` (scripts/reliability.py).

- `procs`: redis-server and a PostgreSQL cluster on free ports of their own, CPU hogs, and
  the faults done to them; `stack`: the product's processes (Daphne, Celery, beat);
- `gateway`: the recording SMS provider, in a process of its own;
- `metrics`: windows over the limit, sustained rate, lost and duplicated;
- `app`: the Django side (users, campaigns, database checks) in the harness process;
- `sockets`: WebSocket clients that record every frame with its arrival time, and REST;
- `context`: what scenarios share, and the table row; `sms` and `live`: the scenarios;
  `report`: the table, docs/RELIABILITY.md and the raw output file.
"""
