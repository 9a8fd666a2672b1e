"""Beyond one box on one machine (`hotline cluster up|down|status`, docs/cluster.md).

A bridge and one network namespace per node (`netns`), a PostgreSQL the nodes share
(`postgres`), Kamailio as the one SIP address (`kamailio`), and in each namespace a node: its
own Asterisk and its own Hotline service (`nodes`). `cluster` puts them together and keeps
what it started in a state file, so `down` stops exactly those processes.
"""
