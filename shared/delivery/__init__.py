"""Delivery rules shared by the gateway's senders and the server's fan-out:
how to read a centre's answer and how long to wait before trying again.
MicroPython-clean, no I/O."""
