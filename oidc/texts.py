"""The words of the hosted pages, in Danish and English (chosen by ui_locales, then Accept-Language).

A small catalogue in code rather than gettext files: two languages, a few dozen sentences, and
nothing to compile. `{service}`, `{level}`, `{key}` and `{hint}` are filled in by the pages.
"""

from __future__ import annotations

from django.utils.translation.trans_real import parse_accept_lang_header

LANGUAGES = ("da", "en")

TEXTS: dict[str, dict[str, str]] = {
    "lang_name": {"da": "Dansk", "en": "English"},
    "provider": {"da": "NemID-login", "en": "NemID login"},
    "to_service": {"da": "Log på {service}", "en": "Log in to {service}"},
    "cancel": {"da": "Afbryd og gå tilbage til {service}", "en": "Cancel and go back to {service}"},
    "level": {"da": "Sikringsniveau: {level}", "en": "Assurance level: {level}"},
    "Low": {"da": "Lav", "en": "Low"},
    "Substantial": {"da": "Betydelig", "en": "Substantial"},
    "High": {"da": "Høj", "en": "High"},
    "continue": {"da": "Fortsæt", "en": "Continue"},
    # user ID
    "user_id": {"da": "Bruger-id", "en": "User ID"},
    "user_id_hint": {"da": "Dit bruger-id har 10 cifre.", "en": "Your user ID has 10 digits."},
    # choice of authenticator
    "method_heading": {"da": "Hvordan vil du bekræfte, at det er dig?", "en": "How do you want to confirm it is you?"},
    "method_app": {"da": "Kodeapp", "en": "Code app"},
    "method_app_text": {"da": "Godkend i appen på din telefon.", "en": "Approve in the app on your phone."},
    "method_key_card": {"da": "Nøglekort", "en": "Key card"},
    "method_key_card_text": {"da": "Indtast en kode fra dit nøglekort.", "en": "Type a code from your key card."},
    "method_key_fob": {"da": "Kodeviser", "en": "Key fob"},
    "method_key_fob_text": {"da": "Indtast koden, som din kodeviser viser.", "en": "Type the code your key fob shows."},
    "another_user": {"da": "Ikke dig? Brug et andet bruger-id", "en": "Not you? Use another user ID"},
    # code app
    "app_heading": {"da": "Åbn din app", "en": "Open your app"},
    "app_text": {
        "da": "Vi har sendt en anmodning til appen på din telefon. Tjek, at den er fra {service}, og indtast dette tal i appen:",
        "en": "We have sent a request to the app on your phone. Check that it is from {service}, and type this number in the app:",
    },
    "app_code_label": {"da": "Tallet, du skal indtaste i appen", "en": "The number to type in the app"},
    "app_pending": {"da": "Venter på dit svar i appen …", "en": "Waiting for your answer in the app …"},
    "app_approved": {"da": "Godkendt. Et øjeblik …", "en": "Approved. One moment …"},
    "app_denied": {"da": "Du afviste anmodningen i appen.", "en": "You declined the request in the app."},
    "app_expired": {"da": "Anmodningen udløb, før du svarede.", "en": "The request ran out of time before you answered."},
    "app_failed": {
        "da": "Svaret fra appen kunne ikke godkendes (var tallet rigtigt?).",
        "en": "The answer from the app could not be accepted (was the number right?).",
    },
    "app_cancelled": {"da": "Anmodningen blev annulleret.", "en": "The request was cancelled."},
    "app_done_button": {"da": "Jeg har svaret i appen", "en": "I have answered in the app"},
    "try_again": {"da": "Prøv igen", "en": "Try again"},
    "other_method": {"da": "Vælg en anden måde", "en": "Choose another way"},
    # key card, key fob
    "key_card_heading": {"da": "Nøglekort", "en": "Key card"},
    "key_card_text": {
        "da": "Find nøgle {key} på dit nøglekort (kortet, der slutter på {hint}), og indtast koden ud for den.",
        "en": "Find key {key} on your key card (the card ending in {hint}) and type the code next to it.",
    },
    "key_fob_heading": {"da": "Kodeviser", "en": "Key fob"},
    "key_fob_text": {
        "da": "Tryk på knappen på din kodeviser, og indtast den kode, den viser.",
        "en": "Press the button on your key fob and type the code it shows.",
    },
    "code": {"da": "Kode", "en": "Code"},
    # password
    "password_heading": {"da": "Adgangskode", "en": "Password"},
    "password_text": {
        "da": "{service} kræver sikringsniveau {level}. Indtast din adgangskode.",
        "en": "{service} asks for assurance level {level}. Type your password.",
    },
    "password": {"da": "Adgangskode", "en": "Password"},
    # consent
    "consent_heading": {"da": "Vil du dele med {service}?", "en": "Share with {service}?"},
    "consent_text": {"da": "{service} får:", "en": "{service} will get:"},
    "scope_openid": {
        "da": "At det er dig (et id, som kun {service} får)",
        "en": "That it is you (an identifier only {service} gets)",
    },
    "scope_profile": {"da": "Dit navn og din fødselsdato", "en": "Your name and date of birth"},
    "allow": {"da": "Tillad", "en": "Allow"},
    "deny": {"da": "Tillad ikke", "en": "Don't allow"},
    # cannot reach the level
    "unavailable_heading": {"da": "Du kan ikke logge på sådan", "en": "You cannot log in this way"},
    "unavailable_password": {
        "da": "{service} kræver sikringsniveau {level}, og det kræver en adgangskode. Vælg en adgangskode i din app, og prøv igen.",
        "en": "{service} asks for assurance level {level}, which needs a password. Choose a password in your app, then try again.",
    },
    "unavailable_method": {
        "da": "{service} kræver sikringsniveau {level}. Det kræver kodeappen, og du har ingen aktiv app.",
        "en": "{service} asks for assurance level {level}, which needs the code app, and you have no active app.",
    },
    "unavailable_none": {
        "da": "Du har ikke noget, du kan logge på med. Aktivér appen på din telefon, og prøv igen.",
        "en": "You have nothing to log in with. Activate the app on your phone, then try again.",
    },
    # problems shown on a step
    "unknown_user": {
        "da": "Vi kunne ikke finde et login til dette bruger-id.",
        "en": "We could not find a login for this user ID.",
    },
    "user_locked": {
        "da": "Dit login er spærret efter for mange fejlede forsøg. Prøv igen senere.",
        "en": "Your login is locked after too many failed attempts. Try again later.",
    },
    "no_active_device": {"da": "Du har ingen aktiv app.", "en": "You have no active app."},
    "too_many_pending": {
        "da": "Du har for mange anmodninger, der venter i appen. Svar på dem, eller vent, og prøv igen.",
        "en": "You have too many requests waiting in your app. Answer them, or wait, then try again.",
    },
    "rate_limited": {
        "da": "For mange forsøg lige nu. Vent lidt, og prøv igen.",
        "en": "Too many attempts right now. Wait a little, then try again.",
    },
    "too_many_attempts": {
        "da": "For mange forsøg lige nu. Vent lidt, og prøv igen.",
        "en": "Too many attempts right now. Wait a little, then try again.",
    },
    "invalid_credentials": {"da": "Det var ikke rigtigt. Prøv igen.", "en": "That was not right. Try again."},
    "method_unavailable": {"da": "Den måde kan ikke bruges her.", "en": "That way cannot be used here."},
    "no_user": {"da": "Indtast dit bruger-id først.", "en": "Type your user ID first."},
    "no_request": {"da": "Der er ingen anmodning i gang.", "en": "There is no request in progress."},
    "login_step_failed": {"da": "Det gik ikke. Prøv igen.", "en": "That did not work. Try again."},
    # pages without a login
    "error_heading": {"da": "Login kan ikke starte", "en": "The login cannot start"},
    "error_text": {
        "da": "Tjenesten, der sendte dig hertil, er ikke tilmeldt, eller den sendte dig med en adresse, vi ikke kender. Intet er delt.",
        "en": "The service that sent you here is not registered, or it sent you with an address we do not know. Nothing was shared.",
    },
    "error_back": {"da": "Gå tilbage til tjenesten, og prøv igen.", "en": "Go back to the service and try again."},
    "ended_heading": {"da": "Dette login er slut", "en": "This login has ended"},
    "ended_text": {
        "da": "Det er udløbet eller afsluttet. Gå tilbage til tjenesten, og start igen.",
        "en": "It has expired or finished. Go back to the service and start again.",
    },
    "logout_heading": {"da": "Log ud?", "en": "Log out?"},
    "logout_text": {"da": "Vil du logge ud af dit login her?", "en": "Do you want to log out of your login here?"},
    "logout_yes": {"da": "Log ud", "en": "Log out"},
    "logout_no": {"da": "Forbliv logget på", "en": "Stay logged in"},
    "logged_out_heading": {"da": "Du er logget ud", "en": "You are logged out"},
    "logged_out_text": {"da": "Du kan lukke vinduet.", "en": "You can close this window."},
}


class Texts:
    """The catalogue in one language; `texts["key"]` in templates, `texts.get(key, **values)` in code."""

    def __init__(self, language: str, **values: str) -> None:
        self.language = language
        self.values = values

    def get(self, name: str, /, **values: str) -> str:
        entry = TEXTS.get(name) or TEXTS["login_step_failed"]
        return entry[self.language].format(**{**self.values, **values})

    def __getitem__(self, name: str) -> str:
        return self.get(name)


def language_for(ui_locales: str | None, accept_language: str | None, default: str) -> str:
    """The first of ui_locales (OIDC Core §3.1.2.1) we speak, else of Accept-Language, else `default`."""
    for tag in (ui_locales or "").split():
        language = tag.split("-")[0].lower()
        if language in LANGUAGES:
            return language
    try:
        accepted = parse_accept_lang_header(accept_language or "")
    except ValueError:
        accepted = ()
    for tag, _ in accepted:
        language = tag.split("-")[0].lower()
        if language in LANGUAGES:
            return language
    return default
