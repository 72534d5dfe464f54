-- A resent batch adds no second dead letter (issue 18). A rejection is the same letter when its
-- stream, its code and its raw item (payload, which holds the eventId when there is one) are the
-- same; a rejected item without an eventId is told apart by its content alone. payload_sha256 is
-- the SHA-256 of the payload's jsonb text, which is canonical: key order and spacing do not count.
ALTER TABLE "dead_letters" ADD COLUMN "payload_sha256" BYTEA;
UPDATE "dead_letters" SET "payload_sha256" = sha256(convert_to("payload"::text, 'UTF8'));

-- Letters stored more than once before this migration: the first of each is kept.
DELETE FROM "dead_letters" later
 USING "dead_letters" first
 WHERE first."stream" = later."stream"
   AND first."code" = later."code"
   AND first."payload_sha256" = later."payload_sha256"
   AND first."id" < later."id";

ALTER TABLE "dead_letters" ALTER COLUMN "payload_sha256" SET NOT NULL;
CREATE UNIQUE INDEX "dead_letters_stream_code_payload_sha256_key"
    ON "dead_letters"("stream", "code", "payload_sha256");
