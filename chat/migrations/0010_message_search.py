import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.contrib.postgres.operations import BtreeGinExtension
from django.db import migrations

# chat.models.SEARCH_VECTOR_SQL as it stood when this ran (a migration keeps its own copy).
TRIGGER = """
CREATE FUNCTION chat_message_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := to_tsvector('english', translate(NEW.text, '<>', '  '))
                         || to_tsvector('simple', translate(NEW.text, '<>', '  '));
    RETURN NEW;
END $$;
CREATE TRIGGER chat_message_search_vector
    BEFORE INSERT OR UPDATE OF text ON chat_message
    FOR EACH ROW EXECUTE FUNCTION chat_message_search_vector();
UPDATE chat_message SET search_vector = to_tsvector('english', translate(text, '<>', '  '))
                                        || to_tsvector('simple', translate(text, '<>', '  '));
"""

UNTRIGGER = """
DROP TRIGGER chat_message_search_vector ON chat_message;
DROP FUNCTION chat_message_search_vector();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0009_reaction_summary_index"),
    ]

    operations = [
        # A trusted extension (PostgreSQL 13+): the database's owner may create it.
        BtreeGinExtension(),
        migrations.AddField(
            model_name="message",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.RunSQL(TRIGGER, UNTRIGGER),
        # Built after the vectors are filled in: one pass, not one insert per row.
        migrations.AddIndex(
            model_name="message",
            index=django.contrib.postgres.indexes.GinIndex(
                fastupdate=False,
                fields=["conversation", "search_vector"],
                name="chat_message_search",
            ),
        ),
    ]
