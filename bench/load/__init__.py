"""Load generator: thousands of simulated candidates on the signed SMS webhook and the web widget's socket.io
channel, against one Rasa replica or several on Redis, optionally stopping one replica mid-run.

`python -m bench.load` generates an ATS of `--candidates` candidates (bench/load/seed.py), starts the
replicas with their action servers (bench/load/cluster.py; fake Slack and Twilio APIs stand in for the SaaS
ones), and runs every candidate's conversation (bench/load/scripts.py: status, FAQ, booking, handoff, with
think time) through a client-side balancer that retries a message on another replica on a refused or
dropped connection, a timeout or a 5xx (bench/load/transport.py). It prints, per channel and per script,
p50/p95/p99 latency (message sent to its reply, retries included), throughput, messages without their reply
and with a wrong one, retries and errors by kind, out-of-band delivery (recruiter joined, replied, handed
back), and whether every message got its reply. At the end it reads every conversation's tracker back
through a surviving replica and checks it holds every answered message once, in order (bench/load/verify.py).
"""
