"""Path converters of the URL tables."""

MAX_ID = 2**63 - 1  # every primary key is a PostgreSQL bigint


class IdConverter:
    """`<id:name>`: a database id. Digits past what a bigint holds are no id at all, so the
    path does not match (404) instead of reaching the database as a number it refuses."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError("past 64 bits")
        return number

    def to_url(self, value: int) -> str:
        return str(value)
