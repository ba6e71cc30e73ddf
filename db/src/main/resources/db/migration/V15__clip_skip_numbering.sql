-- One clip skip numbering for every model family (Automatic1111's: N = the text encoders' hidden_states[-N],
-- 1 = the last layer), and 0 for a job that chose none: the worker runs its model family's default, 1 for
-- SD 1.x/2.x and 2 (the penultimate layer) for SDXL (common ModelFamily.defaultClipSkip).
--
-- Before, a job's clip skip was 1 when none was chosen, and SDXL counted from its penultimate layer: its 1 was
-- hidden_states[-2] (now 2), its N hidden_states[-(N + 1)]. So 1 meant "the family's default" for every family
-- (SD 1.x: the last layer, SDXL: the penultimate) and becomes 0, in the column and in the stored request that
-- derived jobs (reroll, variation, upscale) and the outbox republish from: exact whatever the family.
--
-- Not migrated, as no row records its model's family (jobs.model is a name; the family is what the workers
-- announce now, and a model may be gone or replaced): SDXL jobs with an explicit clip skip 2 to 11, possible only
-- since /imagine clip_skip: shipped (2026-11-30, the day of this change). They keep their number, which now
-- means one layer less deep (a reroll of an SDXL "clip_skip:2" job gets SDXL's default). Their images are as made.
--
-- user_settings.clip_skip (NULL or 2..12; /settings clip_skip:1 saves NULL) is family-independent and stays:
-- the numbering of its 2..12 is Automatic1111's, which they were chosen in (for SD 1.x in practice: 2 for anime
-- SD 1.5 models), and now means the same layer on SDXL as in Automatic1111 and ComfyUI (2 = SDXL's default).
UPDATE jobs
   SET clip_skip = 0,
       request = jsonb_set(request, '{clip_skip}', '0'::jsonb)
 WHERE clip_skip = 1;
ALTER TABLE jobs
    ALTER COLUMN clip_skip SET DEFAULT 0,
    ADD CONSTRAINT jobs_clip_skip CHECK (clip_skip BETWEEN 0 AND 12);
