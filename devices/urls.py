from django.urls import path

from devices.apis import DeviceApi, DeviceRegistrationApi

urlpatterns = [
    path("devices", DeviceRegistrationApi.as_view(), name="device-register"),
    path("device", DeviceApi.as_view(), name="device"),
]
