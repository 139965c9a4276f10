from django.urls import path

from devices.apis import (
    CitizenDeviceApi,
    CitizenDevicesApi,
    DeviceApi,
    DeviceChallengeApi,
    DevicePasswordApi,
    DeviceRegistrationApi,
)

urlpatterns = [
    path("devices", DeviceRegistrationApi.as_view(), name="device-register"),
    path("devices/challenges", DeviceChallengeApi.as_view(), name="device-challenge"),
    path("device", DeviceApi.as_view(), name="device"),
    path("device/password", DevicePasswordApi.as_view(), name="device-password"),
    path("device/devices", CitizenDevicesApi.as_view(), name="citizen-devices"),
    path("device/devices/<str:device_id>", CitizenDeviceApi.as_view(), name="citizen-device"),
]
