"""The gateway's local web page (docs/gateway.md "Local page"), CPython only: served by
the gateway process beside its storage and delivery, built on shared/web/."""
