"""Limits that keep the work of one request bounded, whatever its input.

``ical_scan`` checks an iCalendar text line by line before any parser sees it,
``recurrence`` refuses recurrence rules that cannot advance or never match, and
``budget`` gives recurrence expansion and filtering a deadline.
"""
