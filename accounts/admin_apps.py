"""The admin app, on the staff site of accounts/admin_site.py (one-time codes after the password).

Kept apart from the site itself: Django imports this module while it loads the apps, before any
model (the site's forms) may be imported."""

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.StaffAdminSite"
