"""Simulated ONVIF + RTSP cameras for the demo and the tests."""
