"""Sync-only subclasses of the project's middleware, for bench.sync_middleware_settings."""

from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Message
from django.contrib.sessions.middleware import SessionMiddleware as _Session
from django.middleware.clickjacking import XFrameOptionsMiddleware as _XFrameOptions
from django.middleware.common import CommonMiddleware as _Common
from django.middleware.csrf import CsrfViewMiddleware as _CsrfView
from django.middleware.security import SecurityMiddleware as _Security


class SecurityMiddleware(_Security):
    async_capable = False


class SessionMiddleware(_Session):
    async_capable = False


class CommonMiddleware(_Common):
    async_capable = False


class CsrfViewMiddleware(_CsrfView):
    async_capable = False


class AuthenticationMiddleware(_Authentication):
    async_capable = False


class MessageMiddleware(_Message):
    async_capable = False


class XFrameOptionsMiddleware(_XFrameOptions):
    async_capable = False
