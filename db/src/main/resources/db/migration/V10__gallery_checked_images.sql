-- The gallery shows only images that passed the image safety check (docs/MODERATION.md): checked, so from a
-- channel that is not age-restricted, and not flagged. Its condition on images is now
-- "visible AND safety = 'passed'" (GalleryStore.SHOWN), so its partial indexes (V1, V2) get the same predicate:
-- a page is still an ordered scan of one index that stops after LIMIT rows, whatever share of the images went
-- unchecked. (V8's comment said flagged and unchecked images would be stored invisible; instead `visible` keeps
-- meaning "not hidden by its author or an admin", and `safety` holds the verdict.)
--
-- Images stored before this version were never checked ('unchecked'): they leave the gallery.

DROP INDEX images_recent_visible;
DROP INDEX images_gallery_by_user;
DROP INDEX images_gallery_by_model;
DROP INDEX images_gallery_by_sampler;
DROP INDEX images_gallery_search;

CREATE INDEX images_recent_visible ON images (created_at DESC, id DESC) WHERE visible AND safety = 'passed';
CREATE INDEX images_gallery_by_user ON images (user_id, created_at DESC, id DESC) WHERE visible AND safety = 'passed';
CREATE INDEX images_gallery_by_model ON images (model, created_at DESC, id DESC) WHERE visible AND safety = 'passed';
CREATE INDEX images_gallery_by_sampler ON images (sampler, created_at DESC, id DESC)
    WHERE visible AND safety = 'passed';
CREATE INDEX images_gallery_search ON images USING GIN (prompt_tsv) WHERE visible AND safety = 'passed';
