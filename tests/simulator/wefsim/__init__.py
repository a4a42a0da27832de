"""The Windows Event Forwarding forwarder simulator, by concern; ``wef_forwarder`` (next to this
package) re-exports all of it and describes what the simulator does on the wire."""
