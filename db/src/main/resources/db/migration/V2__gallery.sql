-- The community gallery: who hid an image, and the columns and indexes its pages are read from.
--
-- The gallery filters by author, model, sampler and prompt words, and orders by (created_at, id) for
-- keyset pagination. Those filters live on jobs, the order on images: filtering through a join would make
-- every filtered page walk the newest images until enough match. So images carries a copy of the few job
-- columns the gallery filters on (jobs never change them after insert), filled by a trigger on INSERT, and
-- every gallery query is an ordered scan of one partial index "WHERE visible" that stops after LIMIT rows.
--
-- Full-text search uses the 'english' configuration: prompts are overwhelmingly English tag lists
-- ("cats, watercolor, highly detailed"), and stemming lets "cat" find "cats" and "painting" find
-- "painted"; stop words ("a", "of", "the") carry no meaning in a prompt. Words of other languages and
-- artist names are still indexed (the stemmer leaves unknown words nearly intact, and the query is stemmed
-- the same way), so they are found too. The query side must use the same configuration:
-- websearch_to_tsquery('english', ...). Angle brackets become spaces first: PostgreSQL's parser drops
-- anything that looks like an HTML tag, which would make LoRA references (<lora:add_detail:0.8>) unsearchable.

ALTER TABLE images
    ADD COLUMN user_id    BIGINT,               -- = jobs.user_id
    ADD COLUMN model      TEXT,                 -- = jobs.model
    ADD COLUMN sampler    TEXT,                 -- = jobs.sampler
    ADD COLUMN prompt_tsv TSVECTOR,             -- = to_tsvector('english', jobs.prompt without < >)
    ADD COLUMN hidden_by  BIGINT REFERENCES users (id) ON DELETE SET NULL,  -- the author or admin who hid it
    ADD COLUMN hidden_at  TIMESTAMPTZ;

CREATE FUNCTION images_copy_job_columns() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT j.user_id, j.model, j.sampler, to_tsvector('english'::regconfig, translate(j.prompt, '<>', '  '))
      INTO NEW.user_id, NEW.model, NEW.sampler, NEW.prompt_tsv
      FROM jobs j
     WHERE j.id = NEW.job_id;
    RETURN NEW;
END
$$;

CREATE TRIGGER images_copy_job_columns
    BEFORE INSERT ON images
    FOR EACH ROW EXECUTE FUNCTION images_copy_job_columns();

UPDATE images i
   SET user_id = j.user_id, model = j.model, sampler = j.sampler,
       prompt_tsv = to_tsvector('english'::regconfig, translate(j.prompt, '<>', '  '))
  FROM jobs j
 WHERE j.id = i.job_id;

ALTER TABLE images
    ALTER COLUMN user_id SET NOT NULL,
    ALTER COLUMN model SET NOT NULL,
    ALTER COLUMN sampler SET NOT NULL,
    ALTER COLUMN prompt_tsv SET NOT NULL,
    ADD CONSTRAINT images_user FOREIGN KEY (user_id) REFERENCES users (id);

-- images_recent_visible (created_at DESC, id DESC) WHERE visible, from V1, serves the latest page.
CREATE INDEX images_gallery_by_user ON images (user_id, created_at DESC, id DESC) WHERE visible;
CREATE INDEX images_gallery_by_model ON images (model, created_at DESC, id DESC) WHERE visible;
CREATE INDEX images_gallery_by_sampler ON images (sampler, created_at DESC, id DESC) WHERE visible;
CREATE INDEX images_gallery_search ON images USING GIN (prompt_tsv) WHERE visible;

-- "variations made from this image"
CREATE INDEX jobs_by_parent_image ON jobs (parent_image_id) WHERE parent_image_id IS NOT NULL;
