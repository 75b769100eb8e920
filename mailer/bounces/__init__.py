"""Bounces, complaints and auto-replies: receive, parse, attribute by VERP, suppress."""
