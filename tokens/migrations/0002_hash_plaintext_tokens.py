"""DRF's tokens (rest_framework.authtoken, a plaintext key per user) become hashed ones: each key keeps working,
now with an expiry (API_TOKEN_TTL_DAYS from the upgrade), and its plaintext is deleted."""

from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone
from knox.crypto import hash_token
from knox.settings import CONSTANTS

PLAINTEXT_TABLE = "authtoken_token"


def hash_plaintext_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if PLAINTEXT_TABLE not in connection.introspection.table_names():
        return  # a new database: DRF's tokens were never installed
    ApiToken = apps.get_model("tokens", "ApiToken")
    quoted = schema_editor.quote_name(PLAINTEXT_TABLE)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id FROM {quoted}")
        rows = cursor.fetchall()
        expiry = timezone.now() + timedelta(days=settings.API_TOKEN_TTL_DAYS)
        ApiToken.objects.using(connection.alias).bulk_create(
            ApiToken(digest=hash_token(key), token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH], user_id=user, expiry=expiry)
            for key, user in rows
        )
        cursor.execute(f"DELETE FROM {quoted}")


class Migration(migrations.Migration):
    dependencies = [("tokens", "0001_initial")]

    operations = [migrations.RunPython(hash_plaintext_tokens, migrations.RunPython.noop)]
