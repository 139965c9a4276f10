from django.urls import path

from threeds import apis

urlpatterns = [
    path("3ds/authentications", apis.ThreeDSAuthenticationCreateApi.as_view(), name="threeds-authentications"),
    path("3ds/authentications/<str:acs_trans_id>", apis.ThreeDSAuthenticationDetailApi.as_view(), name="threeds-authentication"),
]
