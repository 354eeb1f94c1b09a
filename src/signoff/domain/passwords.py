"""The password rules every way of setting a password shares (CLI, web UI, API)."""

from __future__ import annotations

MIN_LENGTH = 12
MAX_LENGTH = 1024

# Passwords long enough to pass the length rule that still top the breach lists, and
# the patterns people reach for when told "at least 12 characters". Shorter common
# passwords are refused by the length rule already. Compared case-insensitively.
COMMON = frozenset(
    """
    123456789012 1234567890123 12345678901234 123456789012345 1234567890123456
    098765432109 111111111111 000000000000 121212121212 123123123123 112233445566
    123451234512 987654321098 147258369147 159357159357 123456654321 123456123456
    qwertyuiopas qwertyuiop12 qwertyuiop123 qwertyuiop1234 qwerty123456 qwertyqwerty
    1qaz2wsx3edc 1q2w3e4r5t6y 1q2w3e4r5t6y7u 1qaz2wsx3edc4rfv zaq12wsxcde3 q1w2e3r4t5y6
    asdfghjkl123 asdfghjkl1234 zxcvbnm12345 qazwsxedcrfv asdfasdfasdf qweasdzxc123
    password1234 password12345 password123456 passwordpassword password1234567
    mypassword123 mypassword1234 newpassword123 yourpassword1 password0000 password2024
    password2025 password2026 passw0rd1234 p@ssw0rd1234 p@ssword1234 passw0rd12345
    changeme1234 changemeplease changeme123456 letmein12345 letmeinplease welcome12345
    welcome123456 welcometothejungle administrator admin1234567 administrator1
    adminadmin123 adminpassword admin12345678 rootpassword rootroot1234 superuser123
    iloveyou1234 iloveyou12345 iloveyouforever iloveyoubaby trustno1trustno1
    football1234 baseball1234 basketball12 basketball123 manchesterunited liverpool1234
    princess1234 sunshine1234 starwars1234 superman1234 batman123456 pokemon12345
    monkey123456 dragon123456 shadow123456 master123456 michael12345 jennifer1234
    abcdefghijkl abcdefghijklm abcdefgh1234 abc123abc123 abcd1234abcd aaaaaaaaaaaa
    qwerty1234567 computer1234 internet1234 whatever1234 nopassword12 secret123456
    thisismypassword correcthorsebatterystaple correcthorse123 opensesame123
    helloworld12 helloworld123 hello12345678 goodmorning1 happybirthday summer123456
    winter123456 spring123456 autumn123456 december1234 september123 christmas123
    signoff12345 signoff123456 signoffpassword
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


def problem(password: str, email: str | None = None) -> str | None:
    """Why `password` is refused, or None when it may be used."""
    if len(password) < MIN_LENGTH:
        return f"password: use at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"password: use at most {MAX_LENGTH} characters"
    lowered = password.lower()
    if lowered in COMMON or len(set(lowered)) <= 2:
        return "password: this password is too common; choose another"
    if email:
        address = email.strip().lower()
        if lowered in (address, address.partition("@")[0]):
            return "password: do not use the email address as the password"
    return None
