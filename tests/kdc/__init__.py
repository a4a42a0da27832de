"""Test helpers for Kerberos: a throwaway loopback MIT KDC (loopback_kdc.LoopbackKdc)."""
