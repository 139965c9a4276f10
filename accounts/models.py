"""Operator accounts. A custom user model from the first migration, so it can grow."""

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    pass
